// hello_prot32: 32-bit protected mode test guest (flat segments, no paging).
//
// Load: static ELF32 (hello_prot32.elf, e_entry = 0x100000) or flat binary (hello_prot32.bin) at
//       0x100000, entered with FlatX86Setup `.protected32` (CS 0x18, data 0x10, base 0, 4 GiB).
// Does: writes "prot32\n" one byte at a time to port 0x3f8, then `out 0xf4, al` with al = 0x10.
// Host checks: serial bytes == "prot32\n"; one 1-byte write of 0x10 to port 0xf4.
// If resumed after the 0xf4 exit, the guest repeats the 0xf4 write forever.
    .code32
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov esi, offset msg
    mov dx, 0x3f8
1:  lodsb
    test al, al
    jz 2f
    out dx, al
    jmp 1b
2:  mov al, 0x10
3:  out 0xf4, al
    jmp 3b

    .section .rodata
msg: .asciz "prot32\n"
