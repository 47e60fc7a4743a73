// CPUID leaves as plain values, converted to and from KVM's kvm_cpuid2 flexible array.
import CKVM
import SystemPackage

/// One CPUID leaf (function, index) with its four output registers.
public struct CPUIDEntry: Hashable, Sendable {
    public var function: UInt32
    public var index: UInt32
    /// KVM_CPUID_FLAG_SIGNIFCANT_INDEX etc.
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0,
                eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function; self.index = index; self.flags = flags
        self.eax = eax; self.ebx = ebx; self.ecx = ecx; self.edx = edx
    }

    init(_ e: kvm_cpuid_entry2) {
        self.init(function: e.function, index: e.index, flags: e.flags, eax: e.eax, ebx: e.ebx, ecx: e.ecx, edx: e.edx)
    }

    var raw: kvm_cpuid_entry2 {
        var e = kvm_cpuid_entry2()
        e.function = function; e.index = index; e.flags = flags
        e.eax = eax; e.ebx = ebx; e.ecx = ecx; e.edx = edx
        return e
    }
}

/// A set of CPUID leaves, as KVM_GET_SUPPORTED_CPUID returns and KVM_SET_CPUID2 takes.
public struct CPUIDTable: Hashable, Sendable {
    public var entries: [CPUIDEntry]

    public init(entries: [CPUIDEntry]) { self.entries = entries }

    /// The entry for (function, index), if present.
    public subscript(function: UInt32, index: UInt32 = 0) -> CPUIDEntry? {
        get { entries.first { $0.function == function && $0.index == index } }
        set {
            let i = entries.firstIndex { $0.function == function && $0.index == index }
            switch (i, newValue) {
            case let (i?, v?): entries[i] = v
            case let (i?, nil): entries.remove(at: i)
            case let (nil, v?): entries.append(v)
            case (nil, nil): break
            }
        }
    }

    static func fetch(fd: FileDescriptor, request: UInt, capacity: UInt32, operation: KVMOperation) throws(KVMError) -> CPUIDTable {
        guard let buffer = unsafe ckvm_cpuid2_alloc(capacity) else { throw KVMError.system(operation, errno: .noMemory) }
        defer { unsafe ckvm_free(buffer) }
        // Sound: `buffer` holds a header and `capacity` entries, as nent says.
        try ioctlRaw(fd, request, UnsafeMutableRawPointer(buffer), operation)
        let count = unsafe buffer.pointee.nent
        guard count <= capacity else { throw KVMError.unexpectedKernelValue(operation, "nent \(count) > \(capacity)") }
        // Sound: the kernel filled `count` ≤ capacity entries of the allocation.
        let entries = unsafe UnsafeBufferPointer(start: ckvm_cpuid2_entries(buffer), count: Int(count))
        return CPUIDTable(entries: unsafe entries.map(CPUIDEntry.init))
    }

    /// Runs `body` with a kvm_cpuid2 holding these entries.
    func withRaw<R>(_ operation: KVMOperation, _ body: (UnsafeMutableRawPointer) throws(KVMError) -> R) throws(KVMError) -> R {
        guard entries.count <= 4096 else { throw KVMError.invalidArgument(operation, "\(entries.count) CPUID entries (at most 4096)") }
        guard let buffer = unsafe ckvm_cpuid2_alloc(UInt32(entries.count)) else {
            throw KVMError.system(operation, errno: .noMemory)
        }
        defer { unsafe ckvm_free(buffer) }
        let slots = unsafe ckvm_cpuid2_entries(buffer)
        for (i, entry) in entries.enumerated() {
            // Sound: i < entries.count == the number of entries allocated.
            unsafe (slots! + i).pointee = entry.raw
        }
        return try unsafe body(UnsafeMutableRawPointer(buffer))
    }
}
