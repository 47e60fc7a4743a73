// The kvm_run page: the one place KVMCore maps memory. The kernel writes exit data here on every
// KVM_RUN return and reads in-fields (immediate_exit, I/O-in and MMIO-read data) on the next entry.
import CKVM
import Glibc
import SystemPackage

final class VCPURunPage: @unchecked Sendable {
    // @unchecked: the mapping is fixed for the object's lifetime. Only the vCPU's own thread reads and
    // writes exit data; other threads touch only `immediate_exit`, with an atomic store (CKVM).
    let pointer: UnsafeMutablePointer<kvm_run>
    let size: Int

    init(fd: FileDescriptor, size: Int) throws(KVMError) {
        let raw = unsafe mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0)
        guard let raw = unsafe raw, unsafe raw != MAP_FAILED else {
            throw KVMError.system(.mmapRunPage, errno: Errno(rawValue: Glibc.errno))
        }
        // Sound: KVM_GET_VCPU_MMAP_SIZE ≥ sizeof(kvm_run) was checked when /dev/kvm was opened, and the
        // page-aligned mapping satisfies kvm_run's alignment.
        pointer = unsafe raw.bindMemory(to: kvm_run.self, capacity: 1)
        self.size = size
    }

    deinit {
        // Sound: the mapping was created in init with this size and nothing uses it after deinit.
        _ = unsafe munmap(UnsafeMutableRawPointer(pointer), size)
    }

    func setImmediateExit(_ on: Bool) {
        // Sound: `pointer` is the live mapping; CKVM stores the byte atomically.
        unsafe ckvm_set_immediate_exit(pointer, on ? 1 : 0)
    }

    /// Writes `bytes` into the I/O data area of the last IN exit (bounded by the page size).
    func writeIOData(_ value: UInt64, size: Int, count: Int) {
        let io = unsafe pointer.pointee.io
        let total = size * count
        guard Int(io.data_offset) + total <= self.size else { return }
        // Sound: data_offset + size*count ≤ page size (checked when the exit was parsed and again here).
        let base = unsafe UnsafeMutableRawPointer(pointer) + Int(io.data_offset)
        for i in 0..<total { unsafe base.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * UInt64(i % size))), toByteOffset: i, as: UInt8.self) }
    }

    func writeIOBytes(_ bytes: [UInt8]) {
        let io = unsafe pointer.pointee.io
        let total = min(bytes.count, Int(io.size) * Int(io.count))
        guard Int(io.data_offset) + total <= size else { return }
        // Sound: bounded by the page size as above.
        let base = unsafe UnsafeMutableRawPointer(pointer) + Int(io.data_offset)
        for i in 0..<total { unsafe base.storeBytes(of: bytes[i], toByteOffset: i, as: UInt8.self) }
    }

    func readIOBytes() -> [UInt8] {
        let io = unsafe pointer.pointee.io
        let total = Int(io.size) * Int(io.count)
        guard Int(io.data_offset) + total <= size else { return [] }
        // Sound: bounded by the page size as above.
        let base = unsafe UnsafeRawPointer(pointer) + Int(io.data_offset)
        return unsafe Array(UnsafeRawBufferPointer(start: base, count: total))
    }

    func writeMMIOData(_ value: UInt64) {
        let len = min(Int(unsafe pointer.pointee.mmio.len), 8)
        var data = unsafe pointer.pointee.mmio.data
        withUnsafeMutableBytes(of: &data) { bytes in
            for i in 0..<8 { bytes[i] = i < len ? UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) : 0 }
        }
        unsafe pointer.pointee.mmio.data = data
    }
}
