// hello_real: 16-bit real mode test guest.
//
// Load: flat binary (hello_real.bin) at guest-physical 0x8000, entered at CS:IP = 0x0800:0x0000
//       (FlatX86Setup `.real` entry state). Linked at offset 0: every address is relative to CS.
// Does: copies DS from CS, writes the 5 bytes "real\n" one `out dx, al` at a time to port 0x3f8,
//       then `out 0xf4, al` with al = 0x10 (success).
// Host checks: serial bytes == "real\n"; exactly one 1-byte write to port 0xf4 with value 0x10.
// If the host resumes the vCPU after the 0xf4 exit, the guest repeats the 0xf4 write forever.
// Real mode is interpreted on the project's host (~1 us/instruction): the program is ~30 instructions.
    .code16
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov ax, cs
    mov ds, ax              // msg is addressed relative to the load segment
    mov si, offset msg
    mov dx, 0x3f8
1:  lodsb
    test al, al
    jz 2f
    out dx, al
    jmp 1b
2:  mov al, 0x10
3:  out 0xf4, al
    jmp 3b

msg: .asciz "real\n"
