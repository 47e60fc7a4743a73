// serial_echo: COM1 input test. Drops to CPL3 (native speed on hosts that interpret CPL0), then polls
// the UART's line status (0x3fd bit 0, data ready) and echoes every received byte back to 0x3f8 until
// it has echoed a newline; finally writes the number of bytes echoed (newline included) to the
// debug-exit port 0xf4.
// Load: static ELF64 at 0x100000, FlatX86Setup `.long64` entry state (ports 0-0xFFF open to CPL3
// through the TSS I/O bitmap; IOPL=3 is set too).
// Host checks: stdout == the line it sent; exit value == its length.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov eax, cs
    test al, 3
    jnz user
    push 0x23                // SS: user data, RPL3
    push 0x7E000             // user RSP
    push 0x3002              // RFLAGS: IOPL=3, reserved bit 1, IF=0
    push 0x2B                // CS: user 64-bit code, RPL3
    lea rax, [rip + user]
    push rax
    iretq

user:
    xor ebx, ebx             // bytes echoed
1:  mov dx, 0x3fd
    in al, dx
    test al, 1
    jz 1b                    // no data yet: poll again
    mov dx, 0x3f8
    in al, dx
    out dx, al
    inc ebx
    cmp al, 10
    jne 1b
    mov eax, ebx
2:  out 0xf4, al
    jmp 2b
