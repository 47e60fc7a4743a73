// The system handle: an open /dev/kvm. Capability queries, supported CPUID and MSRs, VM creation.
import CKVM
import SystemPackage

/// An open `/dev/kvm`. Closed when the object goes away; VMs created from it keep working (they hold
/// their own file descriptors).
public final class KVM: Sendable {
    /// The only KVM API version there has ever been.
    public static let expectedAPIVersion: Int32 = 12

    let fd: FileDescriptor
    /// Size of each vCPU's shared kvm_run mapping.
    public let vcpuMmapSize: Int

    /// Opens the device (read-write, close-on-exec) and checks the API version.
    public init(path: FilePath = "/dev/kvm") throws(KVMError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readWrite, options: [.closeOnExec])
        } catch let e as Errno {
            throw KVMError.system(.openDevice, errno: e)
        } catch {
            throw KVMError.system(.openDevice, errno: .ioError)
        }
        self.fd = fd
        do throws(KVMError) {
            let version = try ioctlNone(fd, CKVM_GET_API_VERSION, .getAPIVersion)
            guard version == KVM.expectedAPIVersion else { throw KVMError.unsupportedAPIVersion(version) }
            let size = try ioctlNone(fd, CKVM_GET_VCPU_MMAP_SIZE, .getVCPUMmapSize)
            guard size >= MemoryLayout<kvm_run>.size else {
                throw KVMError.unexpectedKernelValue(.getVCPUMmapSize, "\(size) bytes is smaller than kvm_run")
            }
            vcpuMmapSize = Int(size)
        } catch {
            try? fd.close()
            throw error
        }
    }

    deinit { try? fd.close() }

    /// The API version (always 12 once `init` succeeded).
    public func apiVersion() throws(KVMError) -> Int32 {
        try ioctlNone(fd, CKVM_GET_API_VERSION, .getAPIVersion)
    }

    /// KVM_CHECK_EXTENSION: 0 when absent, otherwise 1 or a capability-specific number.
    public func checkExtension(_ capability: Capability) throws(KVMError) -> Int32 {
        try ioctlValue(fd, CKVM_CHECK_EXTENSION, UInt(capability.rawValue), .checkExtension)
    }

    /// Whether a capability is present (treats query failures as absent).
    public func has(_ capability: Capability) -> Bool {
        ((try? checkExtension(capability)) ?? 0) > 0
    }

    /// The CPUID leaves this host's KVM can present to a guest.
    public func supportedCPUID() throws(KVMError) -> CPUIDTable {
        // The kernel says E2BIG when the buffer is too small: grow and retry (bounded).
        var capacity: UInt32 = 128
        while true {
            do {
                return try CPUIDTable.fetch(fd: fd, request: CKVM_GET_SUPPORTED_CPUID, capacity: capacity,
                                            operation: .getSupportedCPUID)
            } catch let error where error.errno == .argListTooLong && capacity < 4096 {
                capacity *= 2
            }
        }
    }

    /// MSR indices KVM saves and restores for a guest (KVM_GET_MSR_INDEX_LIST).
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        try msrList(CKVM_GET_MSR_INDEX_LIST, .getMSRIndexList)
    }

    /// Feature MSRs readable on the system fd (KVM_GET_MSR_FEATURE_INDEX_LIST).
    public func msrFeatureIndexList() throws(KVMError) -> [UInt32] {
        try msrList(CKVM_GET_MSR_FEATURE_INDEX_LIST, .getMSRFeatureIndexList)
    }

    private func msrList(_ request: UInt, _ op: KVMOperation) throws(KVMError) -> [UInt32] {
        var capacity: UInt32 = 256
        while true {
            guard let list = unsafe ckvm_msr_list_alloc(capacity) else {
                throw KVMError.system(op, errno: .noMemory)
            }
            defer { unsafe ckvm_free(list) }
            do {
                // Sound: `list` holds a header and `capacity` entries, as nmsrs says.
                try ioctlRaw(fd, request, UnsafeMutableRawPointer(list), op)
            } catch let error where error.errno == .argListTooLong && capacity < 16384 {
                capacity *= 4
                continue
            }
            let count = unsafe list.pointee.nmsrs
            guard count <= capacity else {
                throw KVMError.unexpectedKernelValue(op, "nmsrs \(count) > buffer \(capacity)")
            }
            // Sound: the kernel wrote `count` ≤ capacity indices into the allocation.
            let indices = unsafe ckvm_msr_list_indices(list)
            return unsafe Array(UnsafeBufferPointer(start: indices, count: Int(count)))
        }
    }

    /// Creates a VM (machine type 0, the default x86 VM).
    public func createVM() throws(KVMError) -> VirtualMachine {
        let raw = try ioctlValue(fd, CKVM_CREATE_VM, 0, .createVM)
        return VirtualMachine(fd: FileDescriptor(rawValue: raw), vcpuMmapSize: vcpuMmapSize)
    }
}
