#!/usr/bin/env bash
# Installs dependencies and runs the whole test suite. KVM tests need read-write /dev/kvm; without it
# they are skipped with a printed reason (the skip count is part of swift test's summary).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
if [[ -r /dev/kvm && -w /dev/kvm ]]; then echo "/dev/kvm: available"; else echo "/dev/kvm: NOT available: KVM tests will be skipped"; fi
swift build --build-tests
# A hung guest must fail the run, never stall CI: the suite normally takes about a minute.
timeout --kill-after=30 1800 swift test --skip-build "$@"
