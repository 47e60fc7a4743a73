// pio_loop_cpl3: port-I/O exit benchmark guest.
//
// Load: static ELF64 (pio_loop_cpl3.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state.
// CPL0 part: the same 8-instruction iretq into CPL3 with IOPL=3 as cpl3_iopl3 (skipped if the vCPU
//   already starts at CPL3).
// CPL3 part: eax = 0, then forever { `out dx, eax` to port 0x530 (4 bytes); eax += 1 }. (Not 0x510:
// that is QEMU fw_cfg, which the machine provides.)
// Host checks: the n-th exit (counting from 0) is a 4-byte OUT to port 0x530 with value n (mod 2^32).
// Each OUT is one VM exit; the host stops the guest after N exits. Nothing else is touched.
// Port access at CPL3: IOPL=3 is set, but the project's PVM host (kvm_pvm) ignores IOPL at CPL3;
// there the OUTs are allowed by the I/O permission bitmap in FlatX86Setup's TSS (ports 0-0xFFF).
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
    push 0x3002              // RFLAGS: IOPL=3
    push 0x2B                // CS
    lea rax, [rip + user]
    push rax
    iretq

user:
    mov dx, 0x530
    xor eax, eax
1:  out dx, eax
    inc eax
    jmp 1b
