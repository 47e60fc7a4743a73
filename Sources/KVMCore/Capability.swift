// KVM capabilities KVMCore knows by name (KVM_CAP_* numbers from linux/kvm.h).
import CKVM

/// Printing a case gives its Swift name (`irqchip`, `other(123)`), which is what errors show.
public enum Capability: Sendable, Hashable {
    case irqchip, hlt, userMemory, setTSSAddress, extendedCPUID, mpState, coalescedMMIO, syncMMU
    case iommu, pit2, irqRouting, irqfd, ioeventfd, setIdentityMapAddress, adjustClock
    case vcpuEvents, xsave, xcrs, signalMSI, readonlyMemory, immediateExit, splitIRQChip
    case x2apicAPI, dirtyLogRing, manualDirtyLogProtect2, nrVCPUs, maxVCPUs, maxVCPUID, tscControl
    case getTSCKHz, kvmclockCtrl, nrMemorySlots, exitOnEmulationFailure, xsave2, msiDevid
    case other(UInt32)

    public var rawValue: UInt32 {
        switch self {
        case .irqchip: UInt32(KVM_CAP_IRQCHIP)
        case .hlt: UInt32(KVM_CAP_HLT)
        case .userMemory: UInt32(KVM_CAP_USER_MEMORY)
        case .setTSSAddress: UInt32(KVM_CAP_SET_TSS_ADDR)
        case .extendedCPUID: UInt32(KVM_CAP_EXT_CPUID)
        case .mpState: UInt32(KVM_CAP_MP_STATE)
        case .coalescedMMIO: UInt32(KVM_CAP_COALESCED_MMIO)
        case .syncMMU: UInt32(KVM_CAP_SYNC_MMU)
        case .iommu: UInt32(KVM_CAP_IOMMU)
        case .pit2: UInt32(KVM_CAP_PIT2)
        case .irqRouting: UInt32(KVM_CAP_IRQ_ROUTING)
        case .irqfd: UInt32(KVM_CAP_IRQFD)
        case .ioeventfd: UInt32(KVM_CAP_IOEVENTFD)
        case .setIdentityMapAddress: UInt32(KVM_CAP_SET_IDENTITY_MAP_ADDR)
        case .adjustClock: UInt32(KVM_CAP_ADJUST_CLOCK)
        case .vcpuEvents: UInt32(KVM_CAP_VCPU_EVENTS)
        case .xsave: UInt32(KVM_CAP_XSAVE)
        case .xcrs: UInt32(KVM_CAP_XCRS)
        case .signalMSI: UInt32(KVM_CAP_SIGNAL_MSI)
        case .readonlyMemory: UInt32(KVM_CAP_READONLY_MEM)
        case .immediateExit: UInt32(KVM_CAP_IMMEDIATE_EXIT)
        case .splitIRQChip: UInt32(KVM_CAP_SPLIT_IRQCHIP)
        case .x2apicAPI: UInt32(KVM_CAP_X2APIC_API)
        case .dirtyLogRing: UInt32(KVM_CAP_DIRTY_LOG_RING)
        case .manualDirtyLogProtect2: UInt32(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)
        case .nrVCPUs: UInt32(KVM_CAP_NR_VCPUS)
        case .maxVCPUs: UInt32(KVM_CAP_MAX_VCPUS)
        case .maxVCPUID: UInt32(KVM_CAP_MAX_VCPU_ID)
        case .tscControl: UInt32(KVM_CAP_TSC_CONTROL)
        case .getTSCKHz: UInt32(KVM_CAP_GET_TSC_KHZ)
        case .kvmclockCtrl: UInt32(KVM_CAP_KVMCLOCK_CTRL)
        case .nrMemorySlots: UInt32(KVM_CAP_NR_MEMSLOTS)
        case .exitOnEmulationFailure: UInt32(KVM_CAP_EXIT_ON_EMULATION_FAILURE)
        case .xsave2: UInt32(KVM_CAP_XSAVE2)
        case .msiDevid: UInt32(KVM_CAP_MSI_DEVID)
        case let .other(raw): raw
        }
    }

}
