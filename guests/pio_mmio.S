// pio_mmio: port and MMIO exits of every size, for the KVM exit tests (long mode, CPL0).
//
// Load: static ELF64 (pio_mmio.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state.
// 0xD000_0000.. must NOT be RAM (the identity map covers it, so accesses become MMIO exits).
// Exact sequence of exits (value column is what the guest writes, or what the host supplies):
//   #   kind  dir    address      size  value
//   1   PIO   out    0x500        1     0x11
//   2   PIO   out    0x500        2     0x2233
//   3   PIO   out    0x500        4     0x44556677
//   4   PIO   in     0x504        1     host supplies A
//   5   PIO   out    0x508        1     A
//   6   PIO   in     0x504        2     host supplies B
//   7   PIO   out    0x508        2     B
//   8   PIO   in     0x504        4     host supplies C
//   9   PIO   out    0x508        4     C
//   10  MMIO  write  0xD0000000   1     0x88
//   11  MMIO  write  0xD0000000   2     0x99AA
//   12  MMIO  write  0xD0000000   4     0xBBCCDDEE
//   13  MMIO  write  0xD0000000   8     0x0123456789ABCDEF
//   14  MMIO  read   0xD0000008   1     host supplies D
//   15  MMIO  write  0xD0000010   1     D
//   16  MMIO  read   0xD0000008   2     host supplies E
//   17  MMIO  write  0xD0000010   2     E
//   18  MMIO  read   0xD0000008   4     host supplies F
//   19  MMIO  write  0xD0000010   4     F
//   20  MMIO  read   0xD0000008   8     host supplies G
//   21  MMIO  write  0xD0000010   8     G
//   22  HLT
// All values little-endian as in kvm_run's data buffers. If resumed after HLT it halts again.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov dx, 0x500
    mov al, 0x11
    out dx, al
    mov ax, 0x2233
    out dx, ax
    mov eax, 0x44556677
    out dx, eax

    mov cx, 0x504            // in-port
    mov dx, cx
    in al, dx
    mov dx, 0x508
    out dx, al
    mov dx, cx
    in ax, dx
    mov dx, 0x508
    out dx, ax
    mov dx, cx
    in eax, dx
    mov dx, 0x508
    out dx, eax

    mov ebx, 0xD0000000
    mov byte ptr [rbx], 0x88
    mov word ptr [rbx], 0x99AA
    mov dword ptr [rbx], 0xBBCCDDEE
    movabs rax, 0x0123456789ABCDEF
    mov qword ptr [rbx], rax

    mov al, byte ptr [rbx + 8]
    mov byte ptr [rbx + 0x10], al
    mov ax, word ptr [rbx + 8]
    mov word ptr [rbx + 0x10], ax
    mov eax, dword ptr [rbx + 8]
    mov dword ptr [rbx + 0x10], eax
    mov rax, qword ptr [rbx + 8]
    mov qword ptr [rbx + 0x10], rax
1:  hlt
    jmp 1b
