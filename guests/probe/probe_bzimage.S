// probe_bzimage: a hand-made bzImage (boot.rst): one boot sector holding the setup header, one
// setup sector, then the protected-mode payload the loader copies to 1 MiB. A 64-bit loader enters
// the payload at +0x200 (startup_64) with rsi = boot_params, whose setup header it copied from
// ours. startup_64 runs boot_params_checks.inc (codes 0x31-0x3C, listed there), then:
//   0x41  startup_64 is not at 0x100200: the payload is not where the loader says it put it
//   0x42  boot_params' setup header is not ours (setup_sects 0x1F1, version 0x206,
//         kernel_alignment 0x230 differ from what this file declares)
//   0x43  boot_params loadflags (0x211) lacks LOADED_HIGH
// and reports through the debug-exit port 0xf4: 0x10 when all pass, else the first failed code.
// Linked at 0 (bzimage.ld) and flattened: file offset = address. Only rip-relative references.
    .intel_syntax noprefix
    .text
    .globl _start                   // for the linker only: nothing enters the file's first byte
_start:
setup_start:
    .org 0x1F1
    .byte 1                         // 0x1F1 setup_sects: the setup is 2 sectors, payload at 0x400
    .word 0                         // 0x1F2 root_flags
    .long 0                         // 0x1F4 syssize
    .word 0                         // 0x1F8 ram_size
    .word 0xFFFF                    // 0x1FA vid_mode: normal
    .word 0                         // 0x1FC root_dev
    .word 0xAA55                    // 0x1FE boot_flag
    .byte 0xEB, header_end - setup_start - 0x202   // 0x200 jump: byte 0x201 gives the header length
    .ascii "HdrS"                   // 0x202 header
    .word 0x020F                    // 0x206 version 2.15
    .long 0                         // 0x208 realmode_swtch
    .word 0                         // 0x20C start_sys_seg
    .word 0                         // 0x20E kernel_version
    .byte 0                         // 0x210 type_of_loader: the loader fills it
    .byte 1                         // 0x211 loadflags: LOADED_HIGH
    .word 0                         // 0x212 setup_move_size
    .long 0x100000                  // 0x214 code32_start
    .long 0                         // 0x218 ramdisk_image
    .long 0                         // 0x21C ramdisk_size
    .long 0                         // 0x220 bootsect_kludge
    .word 0                         // 0x224 heap_end_ptr
    .byte 0                         // 0x226 ext_loader_ver
    .byte 0                         // 0x227 ext_loader_type
    .long 0                         // 0x228 cmd_line_ptr
    .long 0x7FFFFFFF                // 0x22C initrd_addr_max
    .long 0x200000                  // 0x230 kernel_alignment
    .byte 1                         // 0x234 relocatable_kernel
    .byte 21                        // 0x235 min_alignment (2 MiB)
    .word 0x3                       // 0x236 xloadflags: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    .long 2047                      // 0x238 cmdline_size
    .long 0                         // 0x23C hardware_subarch
    .quad 0                         // 0x240 hardware_subarch_data
    .long 0                         // 0x248 payload_offset
    .long 0                         // 0x24C payload_length
    .quad 0                         // 0x250 setup_data
    .quad 0x1000000                 // 0x258 pref_address
    .long 0x100000                  // 0x260 init_size: runtime area [16 MiB, 17 MiB)
    .long 0                         // 0x264 handover_offset
    .long 0                         // 0x268 kernel_info_offset
header_end:

    .org 0x400                      // (setup_sects + 1) * 512: the payload, loaded at 0x100000
payload:
    .code32                         // startup_32: a 32-bit loader would come here; this one does not
    hlt
    .org payload + 0x200
    .code64
startup_64:
#include "boot_params_checks.inc"
    mov r9d, 0x41
    lea rax, [rip + startup_64]
    cmp rax, 0x100200
    jne fail
    mov r9d, 0x42
    cmp byte ptr [rsi + 0x1F1], 1
    jne fail
    cmp word ptr [rsi + 0x206], 0x020F
    jne fail
    cmp dword ptr [rsi + 0x230], 0x200000
    jne fail
    mov r9d, 0x43
    test byte ptr [rsi + 0x211], 1
    jz fail

    mov r9d, 0x10
fail:
    mov eax, r9d
    out 0xf4, al
1:  hlt
    jmp 1b
