// hello_long64: 64-bit long mode test guest at CPL0.
//
// Load: static ELF64 (hello_long64.elf, e_entry = 0x100000) or flat hello_long64.bin at 0x100000,
//       entered with FlatX86Setup `.long64` (CS 0x08, paging identity-mapped 4 GiB).
// Does: writes "long64\n" one byte at a time to port 0x3f8, then `out 0xf4, al` with al = 0x10.
// Host checks: serial bytes == "long64\n"; one 1-byte write of 0x10 to port 0xf4.
// If resumed after the 0xf4 exit, the guest repeats the 0xf4 write forever.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    lea rsi, [rip + msg]
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
msg: .asciz "long64\n"
