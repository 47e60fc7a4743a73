// smp_id: every vCPU reports who it is (long mode, CPL0; all vCPUs start at the same entry).
//
// Load: static ELF64 (smp_id.elf, e_entry = 0x100000), FlatX86Setup `.long64` entry state for each
// vCPU, with rdi = the vCPU index (X86EntryState.rdi; Machine must copy it into KVM_SET_REGS).
// Sequence per vCPU:
//   1. 4-byte OUT to port 0x520 with value rdi[31:0] (the host-set vCPU index)
//   2. 4-byte OUT to port 0x524 with value CPUID.01H:EBX[31:24] (initial APIC id; only meaningful
//      if the host's SET_CPUID2 sets it per vCPU, as QEMU does)
//   3. hlt (repeated if resumed)
// Host checks: each vCPU's 0x520 write equals its index; the set of 0x520 values is {0..n-1}.
// No memory is written (no stack use), so vCPUs cannot disturb each other.
    .code64
    .intel_syntax noprefix
    .text
    .globl _start
_start:
    mov eax, edi
    mov dx, 0x520
    out dx, eax
    mov eax, 1
    cpuid                    // clobbers eax, ebx, ecx, edx
    mov eax, ebx
    shr eax, 24
    mov dx, 0x524
    out dx, eax
1:  hlt
    jmp 1b
