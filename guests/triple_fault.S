// triple_fault: provoke a triple fault (long mode, CPL0).
//
// Load: static ELF64 (triple_fault.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state.
// Does: `lidt` of a pseudo-descriptor with limit 0 and base 0, then `ud2`. The #UD cannot be
//   delivered (IDT empty) → #GP → #DF → triple fault.
// Host checks: KVM_RUN returns KVM_EXIT_SHUTDOWN; there are no I/O or MMIO exits before it.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    lidt [rip + empty_idt]
    ud2
1:  jmp 1b                   // not reached

    .section .rodata
    .p2align 3
empty_idt:
    .word 0                  // limit
    .quad 0                  // base
