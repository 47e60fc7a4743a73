// cpl3_iopl3: enter CPL3 with IOPL=3 from long mode CPL0, run native user code, report the CPL.
//
// Load: static ELF64 (cpl3_iopl3.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state
//       (GDT at 0x500 with user data 0x23 and user 64-bit code 0x2B; all pages have U/S set).
// CPL0 part (interpreted on the project's host, ~560 ns per instruction): 8 instructions. It builds
//   an iretq frame on the CPL0 stack (SS=0x23, RSP=0x7E000, RFLAGS=0x3002 = IOPL3|bit1, IF clear,
//   CS=0x2B, RIP=user) and executes iretq. If the vCPU already starts at CPL3 (a host that sets
//   CS=0x2B directly), the iretq is skipped.
// CPL3 part (native): a counted loop of 1,000,000 `dec ecx; jnz`, then "cpl3\n" one byte at a time
//   to port 0x3f8, then `out 0xf4, al` with al = CS & 3 (expected 3).
// Host checks: serial bytes == "cpl3\n"; one 1-byte write to 0xf4 with value 3.
// The user code never touches memory other than reading its message; if the host resumes it after
// the 0xf4 exit, it repeats the 0xf4 write forever (`hlt` at CPL3 would #GP with no IDT).
// Port access at CPL3: IOPL=3 is set, but the project's PVM host (kvm_pvm) ignores IOPL at CPL3;
// there the OUTs are allowed by the I/O permission bitmap in FlatX86Setup's TSS (ports 0-0xFFF).
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov eax, cs
    test al, 3
    jnz user                 // already at CPL3: nothing to do at CPL0
    push 0x23                // SS: user data, RPL3
    push 0x7E000             // user RSP (the CPL0 stack is 0x7F000 and below)
    push 0x3002              // RFLAGS: IOPL=3, reserved bit 1, IF=0
    push 0x2B                // CS: user 64-bit code, RPL3
    lea rax, [rip + user]
    push rax
    iretq

user:
    mov ecx, 1000000
1:  dec ecx
    jnz 1b
    lea rsi, [rip + msg]     // DS is null after iretq to CPL3; its base is ignored in 64-bit mode
    mov dx, 0x3f8
2:  lodsb
    test al, al
    jz 3f
    out dx, al
    jmp 2b
3:  mov eax, cs
    and al, 3
4:  out 0xf4, al
    jmp 4b

    .section .rodata
msg: .asciz "cpl3\n"
