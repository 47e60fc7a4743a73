// vCPU state Linux expects from a boot loader beyond the entry registers: boot MSRs and the local
// APIC's LINT0/LINT1 wiring (as Firecracker and QEMU set them up).
import KVMCore

enum X86LinuxVCPUSetup {
    // MSR indices (Intel SDM vol. 4).
    static let ia32SysenterCS: UInt32 = 0x174, ia32SysenterESP: UInt32 = 0x175, ia32SysenterEIP: UInt32 = 0x176
    static let star: UInt32 = 0xC000_0081, lstar: UInt32 = 0xC000_0082, cstar: UInt32 = 0xC000_0083
    static let syscallMask: UInt32 = 0xC000_0084, kernelGSBase: UInt32 = 0xC000_0102
    static let ia32TSC: UInt32 = 0x10, ia32MiscEnable: UInt32 = 0x1A0, mtrrDefType: UInt32 = 0x2FF
    /// IA32_MISC_ENABLE.FAST_STRING: Linux warns when firmware left it off.
    static let miscEnableFastString: UInt64 = 1
    /// MTRRs enabled, default type write-back: without it Linux maps all RAM uncached.
    static let mtrrEnabledWriteBack: UInt64 = (1 << 11) | 6

    static let bootMSRs: [MSR] = [
        MSR(index: ia32SysenterCS, value: 0), MSR(index: ia32SysenterESP, value: 0), MSR(index: ia32SysenterEIP, value: 0),
        MSR(index: star, value: 0), MSR(index: cstar, value: 0), MSR(index: kernelGSBase, value: 0),
        MSR(index: syscallMask, value: 0), MSR(index: lstar, value: 0), MSR(index: ia32TSC, value: 0),
        MSR(index: ia32MiscEnable, value: miscEnableFastString), MSR(index: mtrrDefType, value: mtrrEnabledWriteBack),
    ]

    // Local APIC register offsets and LVT delivery modes.
    static let lvtLINT0: Int = 0x350, lvtLINT1: Int = 0x360
    static let deliveryModeExtINT: UInt32 = 0b111 << 8, deliveryModeNMI: UInt32 = 0b100 << 8

    /// LINT0 = ExtINT (the legacy PIC's output), LINT1 = NMI: the wiring of every PC.
    static func wireLINTs(_ vcpu: VCPU) throws(KVMError) {
        var lapic = try vcpu.lapic()
        guard let lint0 = lapic.register(at: lvtLINT0), let lint1 = lapic.register(at: lvtLINT1) else { return }
        lapic.setRegister((lint0 & ~0x700) | deliveryModeExtINT, at: lvtLINT0)
        lapic.setRegister((lint1 & ~0x700) | deliveryModeNMI, at: lvtLINT1)
        try vcpu.setLAPIC(lapic)
    }

    static func setBootMSRs(_ vcpu: VCPU) throws(KVMError) {
        try vcpu.setMSRs(bootMSRs)
    }
}
