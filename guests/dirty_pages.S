// dirty_pages: writes one byte into each of four fixed pages, for the dirty-log test (long mode, CPL0).
//
// Load: static ELF64 (dirty_pages.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state.
// Needs RAM up to at least 0x300000 (3 MiB).
// Writes, in this order (guest-physical address ← byte):
//   0x200000 ← 0xA0   (page frame 0x200)
//   0x201008 ← 0xA1   (page frame 0x201)
//   0x203FFF ← 0xA2   (page frame 0x203, last byte of the page)
//   0x2FF800 ← 0xA3   (page frame 0x2FF)
// then `hlt` (repeated if resumed).
// Host checks: the dirty log of the RAM slot reports exactly page frames {0x200, 0x201, 0x203, 0x2FF}
// (and the bytes are there). The program uses no stack (no call/push/interrupts) and writes nothing
// else. FlatX86Setup pre-sets the Accessed/Dirty bits in its page tables and the Accessed bit in its
// GDT descriptors, so the CPU's page walk does not write (and dirty) the page-table pages either.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov byte ptr [0x200000], 0xA0
    mov byte ptr [0x201008], 0xA1
    mov byte ptr [0x203FFF], 0xA2
    mov byte ptr [0x2FF800], 0xA3
1:  hlt
    jmp 1b
