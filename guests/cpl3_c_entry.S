// Entry for the C guests (hostile_virtio, virtio_blk_bench): drop to CPL3 (IOPL=3; the TSS I/O
// bitmap opens ports 0-0xFFF on hosts that ignore IOPL at CPL3), run guest_main() natively, and
// report its result through the debug-exit port. Each C file says what its guest checks.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov eax, cs
    test al, 3
    jnz user
    push 0x23                // SS
    push 0x7E000             // RSP
    push 0x3002              // RFLAGS: IOPL=3, interrupts off
    push 0x2B                // CS
    lea rax, [rip + user]
    push rax
    iretq

user:
    mov rsp, 0x7E000
    call guest_main
    mov dx, 0xf4
    out dx, al
1:  jmp 1b
