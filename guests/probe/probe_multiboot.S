// probe_multiboot: a multiboot v1 kernel (ELF32) that checks the multiboot entry state and info
// (Multiboot Specification 0.6.96, 3.2 and 3.3). Built twice: probe_multiboot.elf, loaded by its
// program headers, and with MULTIBOOT_AOUT_KLUDGE as probe_multiboot_aout.bin, a flat image
// loaded through the header's address fields (flag bit 16). The host passes an initrd and a
// command line starting with "probe", and ACPI tables at 0xE0000.
// Reports through the debug-exit port 0xf4: 0x10 when all pass, else the first failed code:
//   0x51  eax != 0x2BADB002
//   0x52  CR0.PE clear or CR0.PG set: not 32-bit protected mode with paging off
//   0x53  EFLAGS.IF set: interrupts must be off
//   0x54  info flags lack one of MEM (0), CMDLINE (2), MODS (3), MMAP (6)
//   0x55  mem_lower is 0 or above 640 KiB
//   0x56  mem_upper is below 1024 KiB
//   0x57  cmdline is 0 or does not start with "probe"
//   0x58  mods_count != 1
//   0x59  module empty: mod_start is 0 or mod_end <= mod_start
//   0x5A  mmap_length is 0
//   0x5B  no RAM (type 1) mmap entry with base 0
//   0x5C  no "RSD PTR " at 0xE0000 (a multiboot kernel finds ACPI by scanning the BIOS area)
// About 60 instructions at CPL0.
    .code32
    .intel_syntax noprefix
    .text
    .p2align 2
mb_header:                          // first in .text: well inside the file's first 8 KiB
#ifdef MULTIBOOT_AOUT_KLUDGE
    .set MB_FLAGS, 0x00010003       // page-aligned modules, memory info, address fields
#else
    .set MB_FLAGS, 0x00000003       // page-aligned modules, memory info
#endif
    .long 0x1BADB002
    .long MB_FLAGS
    .long -(0x1BADB002 + MB_FLAGS)
#ifdef MULTIBOOT_AOUT_KLUDGE
    .long mb_header                 // header_addr
    .long 0x100000                  // load_addr: the image's first byte (guest.ld links it there)
    .long 0                         // load_end_addr: the whole file
    .long 0                         // bss_end_addr: no bss
    .long _start                    // entry_addr
#endif

    .globl _start
_start:
    mov dl, 0x51
    cmp eax, 0x2BADB002
    jne fail
    mov dl, 0x52
    mov eax, cr0
    test eax, 1
    jz fail
    test eax, 0x80000000
    jnz fail
    mov dl, 0x53
    pushfd                          // esp: the loader's stack (0x20000) is RAM
    pop eax
    test eax, 0x200
    jnz fail

    mov dl, 0x54
    mov eax, [ebx]                  // flags
    and eax, 0x4D
    cmp eax, 0x4D
    jne fail
    mov dl, 0x55
    mov eax, [ebx + 4]              // mem_lower, KiB
    test eax, eax
    jz fail
    cmp eax, 640
    ja fail
    mov dl, 0x56
    cmp dword ptr [ebx + 8], 1024   // mem_upper, KiB
    jb fail

    mov dl, 0x57
    mov esi, [ebx + 16]             // cmdline
    test esi, esi
    jz fail
    cmp dword ptr [esi], 0x626f7270 // "prob"
    jne fail
    cmp byte ptr [esi + 4], 0x65    // "e"
    jne fail

    mov dl, 0x58
    cmp dword ptr [ebx + 20], 1     // mods_count
    jne fail
    mov dl, 0x59
    mov esi, [ebx + 24]             // mods_addr
    mov eax, [esi]                  // mod_start
    test eax, eax
    jz fail
    cmp [esi + 4], eax              // mod_end > mod_start
    jbe fail

    mov dl, 0x5A
    mov ecx, [ebx + 44]             // mmap_length
    test ecx, ecx
    jz fail
    mov esi, [ebx + 48]             // mmap_addr: the first entry's size field
    add ecx, esi                    // end of the map
    mov dl, 0x5B
1:  cmp esi, ecx
    jae fail
    cmp dword ptr [esi + 4], 0      // base_addr, u64
    jne 2f
    cmp dword ptr [esi + 8], 0
    jne 2f
    cmp dword ptr [esi + 20], 1     // type: RAM
    je 3f
2:  add esi, [esi]                  // size counts the bytes after itself
    add esi, 4
    jmp 1b
3:
    mov dl, 0x5C
    cmp dword ptr [0xE0000], 0x20445352 // "RSD "
    jne fail
    cmp dword ptr [0xE0004], 0x20525450 // "PTR "
    jne fail

    mov dl, 0x10
fail:
    mov al, dl
    out 0xf4, al
4:  hlt
    jmp 4b
