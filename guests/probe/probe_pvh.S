// probe_pvh: checks the PVH entry contract (Xen's arch-x86/hvm/start_info.h, as Linux's pvh.S
// relies on it) from inside the guest. ELF32 with XEN_ELFNOTE_PHYS32_ENTRY; the host loads it with
// an initrd and a command line starting with "probe", and with ACPI tables (RSDP at 0xE0000).
// Reports through the debug-exit port 0xf4: 0x10 when every check passes, else the code of the
// FIRST check that failed (Tests/MachineTests/ProbeKernelTests.swift names them):
//   0x21  CR0.PE clear: not in protected mode
//   0x22  CR0.PG set: paging must be off
//   0x23  EFLAGS.IF set: interrupts must be off
//   0x24  ebx does not point to hvm_start_info (magic 0x336ec578)
//   0x25  hvm_start_info.version < 1 (no memory map fields)
//   0x26  nr_modules != 1 (the initrd is the one module)
//   0x27  module paddr is 0
//   0x28  module size is 0
//   0x29  cmdline_paddr is 0 or its string does not start with "probe"
//   0x2A  memmap_entries is 0
//   0x2B  no type-1 (RAM) memmap entry starting at 0
//   0x2C  no type-1 (RAM) memmap entry starting at 1 MiB
//   0x2D  rsdp_paddr != 0xE0000
//   0x2E  the bytes at rsdp_paddr are not "RSD PTR "
// About 70 instructions at CPL0 (the memmap scan is a handful of entries).
    .code32
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov eax, cr0
    mov dl, 0x21
    test eax, 1                         // CR0.PE
    jz fail
    mov dl, 0x22
    test eax, 0x80000000                // CR0.PG
    jnz fail
    mov dl, 0x23
    pushfd                              // esp: the loader's stack (0x20000) is RAM
    pop eax
    test eax, 0x200                     // EFLAGS.IF
    jnz fail

    mov dl, 0x24
    cmp dword ptr [ebx], 0x336ec578     // hvm_start_info.magic
    jne fail
    mov dl, 0x25
    cmp dword ptr [ebx + 4], 1          // version
    jb fail
    mov dl, 0x26
    cmp dword ptr [ebx + 12], 1         // nr_modules
    jne fail
    mov esi, [ebx + 16]                 // modlist_paddr (below 4 GiB: the loader puts it at 0x8040)
    mov dl, 0x27
    mov eax, [esi]                      // hvm_modlist_entry.paddr, u64
    or eax, [esi + 4]
    jz fail
    mov dl, 0x28
    mov eax, [esi + 8]                  // size, u64
    or eax, [esi + 12]
    jz fail

    mov dl, 0x29
    mov esi, [ebx + 24]                 // cmdline_paddr
    test esi, esi
    jz fail
    cmp dword ptr [esi], 0x626f7270     // "prob"
    jne fail
    cmp byte ptr [esi + 4], 0x65        // "e"
    jne fail

    mov dl, 0x2A
    mov ecx, [ebx + 48]                 // memmap_entries
    test ecx, ecx
    jz fail
    mov esi, [ebx + 40]                 // memmap_paddr
    xor edi, edi                        // bit 0: RAM at 0 seen, bit 1: RAM at 1 MiB seen
scan:
    cmp dword ptr [esi + 16], 1         // type: RAM
    jne next
    cmp dword ptr [esi + 4], 0          // addr bits 63:32
    jne next
    mov eax, [esi]
    test eax, eax
    jnz 1f
    or edi, 1
1:  cmp eax, 0x100000
    jne next
    or edi, 2
next:
    add esi, 24                         // sizeof(hvm_memmap_table_entry)
    dec ecx
    jnz scan
    mov dl, 0x2B
    test edi, 1
    jz fail
    mov dl, 0x2C
    test edi, 2
    jz fail

    mov dl, 0x2D
    cmp dword ptr [ebx + 32], 0xE0000   // rsdp_paddr, u64
    jne fail
    cmp dword ptr [ebx + 36], 0
    jne fail
    mov dl, 0x2E
    cmp dword ptr [0xE0000], 0x20445352 // "RSD "
    jne fail
    cmp dword ptr [0xE0004], 0x20525450 // "PTR "
    jne fail

    mov dl, 0x10
fail:
    mov al, dl
    out 0xf4, al
2:  hlt
    jmp 2b

    .section .note.Xen, "a"
    .p2align 2
    .long 4                  // namesz: "Xen\0"
    .long 4                  // descsz
    .long 18                 // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .p2align 2
    .long _start
