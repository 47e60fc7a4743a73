#!/usr/bin/env bash
# Builds vmm (release) and the sample guests, then boots the serial "hello" guest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product vmm
out=.build/guests
guests/build.sh "$out"
echo "--- vmm run --kernel $out/serial_hello.elf"
set +e
.build/release/vmm run --kernel "$out/serial_hello.elf" --memory 64
status=$?
set -e
echo "--- guest exited, vmm status $status (0 = guest reported success)"
exit "$status"
