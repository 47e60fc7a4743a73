// probe_boot_params: an ELF64 kernel with no PVH note, so the loader uses Linux's 64-bit boot
// protocol (boot_params in rsi, entered at e_entry in long mode). Runs the checks in
// boot_params_checks.inc (codes 0x31-0x3C, listed there) and reports through the debug-exit port
// 0xf4: 0x10 when all pass, else the code of the first failed check. The host passes an initrd
// and a command line starting with "probe". About 50 instructions at CPL0.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
#include "boot_params_checks.inc"
    mov r9d, 0x10
fail:
    mov eax, r9d
    out 0xf4, al
1:  hlt
    jmp 1b
