// serial_hello: the README's demo guest (64-bit long mode, CPL0).
//
// Load: static ELF64 (serial_hello.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state.
// Does: writes "Hello from a Swift VMM guest\n" one byte at a time to port 0x3f8 (COM1 THR),
//       then `out 0xf4, al` with al = 0 (success, exit status 0).
// Host checks: serial bytes == "Hello from a Swift VMM guest\n"; one 1-byte write of 0 to port 0xf4.
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
2:  xor eax, eax
3:  out 0xf4, al
    jmp 3b

    .section .rodata
msg: .asciz "Hello from a Swift VMM guest\n"
