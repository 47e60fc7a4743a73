#!/usr/bin/env bash
# Builds the guests (guests/build.sh) and the benchmarks (release, own scratch path), then runs them.
#   Benchmarks/run.sh [pio-exit-ratio args]     the interleaved Swift/C ratio (one line; --verbose for rounds)
#   Benchmarks/run.sh ordo-one [benchmark args] the same loops through ordo-one/benchmark
#   Benchmarks/run.sh virtio-cost               the device side's cost per virtio request (no KVM)
#   Benchmarks/run.sh virtio-guest-bench        guest-driven virtio-blk throughput (CPL3 driver)
# Prints the exact command it runs, to reproduce without rebuilding.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${BENCH_SCRATCH_PATH:-$root/.build-bench}"   # ignored by .gitignore (.build-*/)
guests="$scratch/guests"
guest="$guests/pio_loop_cpl3.elf"

show() { printf '+'; printf ' %q' "$@"; printf '\n'; }

show bash "$root/guests/build.sh" "$guests"
bash "$root/guests/build.sh" "$guests"

if [[ "${1:-}" == "virtio-cost" || "${1:-}" == "virtio-guest-bench" ]]; then
    product="$1"
    build=(swift build -c release --package-path "$root/Benchmarks" --scratch-path "$scratch" --product "$product")
    show "${build[@]}"
    "${build[@]}"
    cmd=("$scratch/release/$product")
    [[ "$product" == "virtio-guest-bench" ]] && cmd+=("$guests/virtio_blk_bench.elf")
    echo "reproduce:"; printf ' '; printf ' %q' "${cmd[@]}"; printf '\n'
    exec "${cmd[@]}"
fi

if [[ "${1:-}" == "ordo-one" ]]; then
    shift
    cmd=(swift package --package-path "$root/Benchmarks" --scratch-path "$scratch" benchmark --target PIOExit "$@")
    echo "reproduce:"; printf '  PIO_EXIT_GUEST=%q' "$guest"; printf ' %q' "${cmd[@]}"; printf '\n'
    PIO_EXIT_GUEST="$guest" "${cmd[@]}"
    exit
fi

build=(swift build -c release --package-path "$root/Benchmarks" --scratch-path "$scratch" --product pio-exit-ratio)
show "${build[@]}"
"${build[@]}"
cmd=("$scratch/release/pio-exit-ratio" --guest "$guest" "$@")
echo "reproduce:"; printf ' '; printf ' %q' "${cmd[@]}"; printf '\n'
"${cmd[@]}"
