// One error type for the KVM layer: which operation failed and the errno the kernel gave.
import SystemPackage

/// The KVM operations KVMCore performs, named after their ioctls.
public enum KVMOperation: String, Sendable, CustomStringConvertible {
    case openDevice = "open /dev/kvm"
    case getAPIVersion = "KVM_GET_API_VERSION"
    case checkExtension = "KVM_CHECK_EXTENSION"
    case createVM = "KVM_CREATE_VM"
    case getVCPUMmapSize = "KVM_GET_VCPU_MMAP_SIZE"
    case getSupportedCPUID = "KVM_GET_SUPPORTED_CPUID"
    case getMSRIndexList = "KVM_GET_MSR_INDEX_LIST"
    case getMSRFeatureIndexList = "KVM_GET_MSR_FEATURE_INDEX_LIST"
    case createVCPU = "KVM_CREATE_VCPU"
    case mmapRunPage = "mmap(kvm_run)"
    case setUserMemoryRegion = "KVM_SET_USER_MEMORY_REGION"
    case getDirtyLog = "KVM_GET_DIRTY_LOG"
    case clearDirtyLog = "KVM_CLEAR_DIRTY_LOG"
    case createIRQChip = "KVM_CREATE_IRQCHIP"
    case getIRQChip = "KVM_GET_IRQCHIP"
    case setIRQChip = "KVM_SET_IRQCHIP"
    case createPIT2 = "KVM_CREATE_PIT2"
    case irqLine = "KVM_IRQ_LINE"
    case irqfd = "KVM_IRQFD"
    case ioeventfd = "KVM_IOEVENTFD"
    case signalMSI = "KVM_SIGNAL_MSI"
    case setGSIRouting = "KVM_SET_GSI_ROUTING"
    case setTSSAddress = "KVM_SET_TSS_ADDR"
    case setIdentityMapAddress = "KVM_SET_IDENTITY_MAP_ADDR"
    case getClock = "KVM_GET_CLOCK"
    case setClock = "KVM_SET_CLOCK"
    case enableCap = "KVM_ENABLE_CAP"
    case run = "KVM_RUN"
    case getRegisters = "KVM_GET_REGS"
    case setRegisters = "KVM_SET_REGS"
    case getSpecialRegisters = "KVM_GET_SREGS"
    case setSpecialRegisters = "KVM_SET_SREGS"
    case getFPU = "KVM_GET_FPU"
    case setFPU = "KVM_SET_FPU"
    case getMSRs = "KVM_GET_MSRS"
    case setMSRs = "KVM_SET_MSRS"
    case setCPUID = "KVM_SET_CPUID2"
    case getCPUID = "KVM_GET_CPUID2"
    case getLAPIC = "KVM_GET_LAPIC"
    case setLAPIC = "KVM_SET_LAPIC"
    case getXSAVE = "KVM_GET_XSAVE"
    case setXSAVE = "KVM_SET_XSAVE"
    case getXCRs = "KVM_GET_XCRS"
    case setXCRs = "KVM_SET_XCRS"
    case getVCPUEvents = "KVM_GET_VCPU_EVENTS"
    case setVCPUEvents = "KVM_SET_VCPU_EVENTS"
    case getMPState = "KVM_GET_MP_STATE"
    case setMPState = "KVM_SET_MP_STATE"
    case translate = "KVM_TRANSLATE"
    case interrupt = "KVM_INTERRUPT"
    case nmi = "KVM_NMI"
    case kick = "pthread_kill(vCPU)"
    case installSignalHandler = "sigaction(kick signal)"
    case eventfd = "eventfd"
    case epoll = "epoll"

    public var description: String { rawValue }
}

/// Errors from KVMCore. Every kernel failure carries the operation and its errno.
public enum KVMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An ioctl or system call failed.
    case system(KVMOperation, errno: Errno)
    /// /dev/kvm speaks an API version other than 12.
    case unsupportedAPIVersion(Int32)
    /// A request KVMCore refuses before asking the kernel (the reason names the argument).
    case invalidArgument(KVMOperation, String)
    /// The kernel returned something the API documents as impossible (kept, not trapped on).
    case unexpectedKernelValue(KVMOperation, String)
    /// A required capability is missing.
    case missingCapability(Capability)

    public var description: String {
        switch self {
        case let .system(op, errno): "\(op) failed: \(errno) (errno \(errno.rawValue))"
        case let .unsupportedAPIVersion(v): "/dev/kvm API version \(v), expected 12"
        case let .invalidArgument(op, why): "\(op): invalid argument: \(why)"
        case let .unexpectedKernelValue(op, what): "\(op): unexpected kernel value: \(what)"
        case let .missingCapability(c): "KVM capability \(c) is not available"
        }
    }

    /// The errno of a failed system call, if that is what this error is.
    public var errno: Errno? {
        if case let .system(_, e) = self { return e }
        return nil
    }
}
