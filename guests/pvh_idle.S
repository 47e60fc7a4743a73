// pvh_idle: a PVH kernel that halts forever with interrupts off, for measuring a VMM's own memory
// while a guest sits idle (the vCPU waits in the kernel's HLT emulation; no exits reach user space).
    .code32
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    cli
1:  hlt
    jmp 1b

    .section .note.Xen, "a"
    .p2align 2
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .p2align 2
    .long _start
