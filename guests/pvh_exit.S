// pvh_exit: the boot-time probe. A PVH kernel (ELF32 with XEN_ELFNOTE_PHYS32_ENTRY) whose first
// instruction writes 'I' to COM1's transmit register, and whose second writes 0 to the debug-exit
// port 0xf4. Booted the same way under vmm and under `qemu-system-x86_64 -M microvm -device
// isa-debug-exit`, it measures process start to the guest's first instruction (the byte on the
// serial console, before any teardown) and to process exit. Host checks: 'I' on stdout, exit status
// (0 << 1) | 1 = 1.
    .code32
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov dx, 0x3f8            // COM1 THR: no UART setup needed to transmit one byte
    mov al, 'I'
    out dx, al
    xor eax, eax
    out 0xf4, al
1:  hlt
    jmp 1b

    .section .note.Xen, "a"
    .p2align 2
    .long 4                  // namesz: "Xen\0"
    .long 4                  // descsz
    .long 18                 // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .p2align 2
    .long _start
