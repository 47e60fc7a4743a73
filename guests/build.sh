#!/usr/bin/env bash
# Builds the freestanding test guests into the directory given as $1 (created if missing).
# Outputs, per program:
#   hello_real.bin                          flat, load at 0x8000, CS:IP = 0x0800:0000
#   hello_prot32.elf (ELF32) / .bin         load at 0x100000
#   <name>.elf (ELF64) / <name>.bin         load at 0x100000 for every long-mode program
#   probe_pvh.elf, probe_boot_params.elf, probe_multiboot.elf, probe_multiboot_aout.bin,
#   probe_bzimage.bin                       boot-protocol probes (guests/probe/), loaded as Linux
# Tools: clang, ld.lld, llvm-objcopy from $SWIFT_TOOLCHAIN_BIN (default /opt/swift/usr/bin, then PATH).
# Binaries are never committed (.gitignore lists *.bin, *.elf, *.o).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
out="$1"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${SWIFT_TOOLCHAIN_BIN:-/opt/swift/usr/bin}"
tool() {
    if [[ -x "$bin/$1" ]]; then echo "$bin/$1"; else command -v "$1" || { echo "missing tool: $1" >&2; exit 1; }; fi
}
CC="$(tool clang)"
LD="$(tool ld.lld)"
OBJCOPY="$(tool llvm-objcopy)"

mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

CFLAGS=(-ffreestanding -nostdlib -fno-pic -fno-pie -c)
LDFLAGS=(-static --no-dynamic-linker --build-id=none -z noexecstack -z max-page-size=4096 -nostdlib)

# Assemble and link one program. $1 name, $2 clang target, $3 ld emulation, $4 linker script.
build_one() {
    local name="$1" target="$2" emul="$3" script="$4"
    "$CC" --target="$target" "${CFLAGS[@]}" "$src/$name.S" -o "$tmp/$name.o"
    "$LD" -m "$emul" "${LDFLAGS[@]}" -T "$src/$script" "$tmp/$name.o" -o "$tmp/$name.elf"
    "$OBJCOPY" -O binary "$tmp/$name.elf" "$tmp/$name.bin"
}

build_one hello_real x86_64-unknown-none-elf elf_x86_64 real.ld
mv "$tmp/hello_real.bin" "$out/hello_real.bin"   # its ELF (linked at 0) is not meant to be loaded

build_one hello_prot32 i386-unknown-none-elf elf_i386 guest.ld
mv "$tmp/hello_prot32.elf" "$tmp/hello_prot32.bin" "$out/"

for name in pvh_exit pvh_idle; do
    build_one "$name" i386-unknown-none-elf elf_i386 pvh.ld
    mv "$tmp/$name.elf" "$out/"
done

for name in hello_long64 cpl3_iopl3 pio_mmio dirty_pages pio_loop_cpl3 smp_id triple_fault serial_hello serial_echo; do
    build_one "$name" x86_64-unknown-none-elf elf_x86_64 guest.ld
    mv "$tmp/$name.elf" "$tmp/$name.bin" "$out/"
done

# The C guests (hostile_virtio, virtio_blk_bench): a shared CPL3 entry plus a freestanding C driver
# (no SSE: the guest never sets up the FPU; no builtins: there is no libc to call).
"$CC" --target=x86_64-unknown-none-elf "${CFLAGS[@]}" "$src/cpl3_c_entry.S" -o "$tmp/cpl3_c_entry.o"
for name in hostile_virtio virtio_blk_bench; do
    "$CC" --target=x86_64-unknown-none-elf "${CFLAGS[@]}" -O2 -mgeneral-regs-only -mno-red-zone -fno-builtin \
        -fno-stack-protector -fno-asynchronous-unwind-tables -Wall -Werror "$src/$name.c" -o "$tmp/$name.o"
    "$LD" -m elf_x86_64 "${LDFLAGS[@]}" -T "$src/guest.ld" "$tmp/cpl3_c_entry.o" "$tmp/$name.o" -o "$out/$name.elf"
done

# Boot-protocol probes (guests/probe/). $1 output name, $2 source, $3 target, $4 emulation,
# $5 linker script, then extra preprocessor flags.
build_probe() {
    local name="$1" source="$2" target="$3" emul="$4" script="$5"
    shift 5
    "$CC" --target="$target" "${CFLAGS[@]}" "$@" "$src/probe/$source.S" -o "$tmp/$name.o"
    "$LD" -m "$emul" "${LDFLAGS[@]}" -T "$src/$script" "$tmp/$name.o" -o "$tmp/$name.elf"
}
build_probe probe_pvh probe_pvh i386-unknown-none-elf elf_i386 pvh.ld
build_probe probe_boot_params probe_boot_params x86_64-unknown-none-elf elf_x86_64 guest.ld
build_probe probe_multiboot probe_multiboot i386-unknown-none-elf elf_i386 guest.ld
mv "$tmp/probe_pvh.elf" "$tmp/probe_boot_params.elf" "$tmp/probe_multiboot.elf" "$out/"
# Flat images: the a.out-kludge multiboot kernel and the bzImage (linked at 0, file offset = address).
build_probe probe_multiboot_aout probe_multiboot i386-unknown-none-elf elf_i386 guest.ld -DMULTIBOOT_AOUT_KLUDGE
build_probe probe_bzimage probe_bzimage x86_64-unknown-none-elf elf_x86_64 probe/bzimage.ld
for name in probe_multiboot_aout probe_bzimage; do
    "$OBJCOPY" -O binary "$tmp/$name.elf" "$tmp/$name.bin"
    mv "$tmp/$name.bin" "$out/"
done
