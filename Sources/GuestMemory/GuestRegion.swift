// One contiguous piece of guest RAM and the host mapping behind it. The mapping is created in a
// factory, never moved or resized, and unmapped in deinit: anything holding the object (a
// GuestMemoryMap, KVMCore's memory slot) holds valid memory.
import Atomics
import Glibc
import Synchronization
import SystemPackage

/// One contiguous piece of guest RAM backed by a host mapping that lives as long as the object.
///
/// `@unchecked Sendable` because the only mutable state is the dirty bitmap, which is behind a
/// Mutex; the mapping itself is fixed for the object's lifetime. Concurrent access to the bytes of
/// guest RAM (vCPUs and device threads at once) is inherent to a VM, as on real hardware: shared
/// fields use the atomic accessors, everything else is copied out and validated by the reader.
///
/// `@safe`: the raw mapping is internal storage; the public interface hands out no pointer (only
/// the explicitly `@unsafe` `hostAddress`), and every access goes through bounds checks.
@safe
public final class GuestRegion: @unchecked Sendable {
    public enum Backing: Sendable {
        case anonymous
        /// A sealed (size-fixed) memfd owned by the region and closed in deinit. It can be shared
        /// with another process (vhost-user, snapshotting) without that process being able to
        /// shrink it under our mapping, which would turn accesses into SIGBUS.
        case memfd(FileDescriptor)
        /// A caller-owned file descriptor: the region does not close it. The mapping survives the fd
        /// being closed; shrinking the file underneath it is the caller's responsibility.
        case file(FileDescriptor, offset: UInt64)
    }

    public let range: GuestRange
    public var start: GuestAddress { range.start }
    public var size: UInt64 { range.length }
    public let backing: Backing
    public let hugePages: Bool

    /// The host mapping: exactly `size` bytes, readable and writable, until deinit.
    let base: UnsafeMutableRawPointer
    /// `size` as Int, proved to fit at construction so per-access conversions cannot trap.
    let byteCount: Int
    private let dirty = Mutex<DirtyBitmap?>(nil)

    private init(range: GuestRange, byteCount: Int, backing: Backing, hugePages: Bool, base: UnsafeMutableRawPointer) {
        self.range = range
        self.byteCount = byteCount
        self.backing = backing
        self.hugePages = hugePages
        unsafe self.base = base  // Sound: takes ownership of a mapping of exactly `byteCount` bytes.
    }

    deinit {
        // Sound: `base`/`byteCount` describe the mapping this object owns; no other reference to
        // it can outlive the object (no public API hands out pointers).
        _ = unsafe munmap(base, byteCount)
        if case .memfd(let fd) = backing {
            try? fd.close()
        }
    }

    /// The host virtual address of the mapping, as an integer for KVM_SET_USER_MEMORY_REGION.
    /// @unsafe: valid only while this object is alive; the caller (KVMCore's VM) keeps a strong
    /// reference to the region for as long as a KVM slot uses it.
    @unsafe public var hostAddress: UInt64 {
        UInt64(UInt(bitPattern: unsafe base))  // Sound: only the pointer's value is read.
    }

    // MARK: - Factories

    /// Anonymous private RAM. MAP_NORESERVE lets a large, sparsely used guest not count against
    /// overcommit; with `hugePages` it is left out, so the kernel reserves the huge pages at mmap
    /// time and a shortage is an ENOMEM here rather than a SIGBUS on first touch.
    public static func anonymous(at: GuestAddress, size: UInt64, hugePages: Bool = false) throws(GuestMemoryError) -> GuestRegion {
        let (range, byteCount) = try validate(at: at, size: size, hugePages: hugePages)
        var flags = MAP_PRIVATE | MAP_ANONYMOUS
        flags |= hugePages ? MAP_HUGETLB : MAP_NORESERVE
        let base = try unsafe mapHostMemory(length: byteCount, flags: flags, fd: -1, offset: 0)  // Sound: ownership moves into the region below.
        return unsafe GuestRegion(range: range, byteCount: byteCount, backing: .anonymous, hugePages: hugePages, base: base)  // Sound: base maps byteCount bytes.
    }

    /// Shared RAM in a memfd whose size is sealed (F_SEAL_SHRINK | F_SEAL_GROW).
    public static func memfd(at: GuestAddress, size: UInt64, name: String, hugePages: Bool = false) throws(GuestMemoryError) -> GuestRegion {
        let (range, byteCount) = try validate(at: at, size: size, hugePages: hugePages)
        let fd = try createMemfd(name: name, hugePages: hugePages)
        do throws(GuestMemoryError) {
            guard ftruncate(fd.rawValue, off_t(byteCount)) == 0 else {
                throw .system(operation: "ftruncate", errno: currentErrno())
            }
            guard fcntl(fd.rawValue, LinuxABI.fAddSeals, LinuxABI.fSealShrink | LinuxABI.fSealGrow) == 0 else {
                throw .system(operation: "fcntl(F_ADD_SEALS)", errno: currentErrno())
            }
            // No MAP_NORESERVE: for hugetlb memfds the reservation must happen here (see anonymous).
            let base = try unsafe mapHostMemory(length: byteCount, flags: MAP_SHARED, fd: fd.rawValue, offset: 0)  // Sound: ownership moves into the region below.
            return unsafe GuestRegion(range: range, byteCount: byteCount, backing: .memfd(fd), hugePages: hugePages, base: base)  // Sound: base maps byteCount bytes.
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// RAM backed by `fd` from `offset` (page-aligned). `shared`: writes reach the file
    /// (MAP_SHARED); otherwise they stay private to this process (MAP_PRIVATE, copy-on-write).
    /// A regular file must be at least offset + size bytes long: touching a mapping past EOF raises
    /// SIGBUS, so that is refused here with EINVAL.
    public static func file(at: GuestAddress, size: UInt64, fd: FileDescriptor, offset: UInt64, shared: Bool) throws(GuestMemoryError) -> GuestRegion {
        let (range, byteCount) = try validate(at: at, size: size, hugePages: false)
        guard offset % PageSize.small == 0, let fileOffset = off_t(exactly: offset) else {
            throw .system(operation: "mmap (offset not page-aligned or too large)", errno: .invalidArgument)
        }
        if let fileSize = try regularFileSize(fd) {
            let (needed, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, needed <= fileSize else {
                throw .system(operation: "mmap (file shorter than offset + size)", errno: .invalidArgument)
            }
        }
        let flags = shared ? MAP_SHARED : MAP_PRIVATE
        let base = try unsafe mapHostMemory(length: byteCount, flags: flags, fd: fd.rawValue, offset: fileOffset)  // Sound: ownership moves into the region below.
        return unsafe GuestRegion(range: range, byteCount: byteCount, backing: .file(fd, offset: offset), hugePages: false, base: base)  // Sound: base maps byteCount bytes.
    }

    /// Shared checks: a valid range, a page-multiple size, a page-aligned start (KVM requires it,
    /// and it makes guest alignment equal host alignment for the atomics), and a size mmap can take.
    private static func validate(at: GuestAddress, size: UInt64, hugePages: Bool) throws(GuestMemoryError) -> (GuestRange, Int) {
        guard let range = GuestRange(start: at, length: size) else {
            throw .invalidRange(start: at, length: size)
        }
        let pageSize = hugePages ? PageSize.huge : PageSize.small
        guard size % pageSize == 0 else {
            throw .sizeNotPageMultiple(size)
        }
        guard at.isAligned(to: PageSize.small) else {
            throw .misaligned(address: at, alignment: PageSize.small)
        }
        guard let byteCount = Int(exactly: size) else {
            throw .system(operation: "mmap", errno: .noMemory)
        }
        return (range, byteCount)
    }

    // MARK: - Dirty tracking

    /// Starts recording pages written through GuestMemoryMap. Idempotent: enabling twice keeps
    /// what was recorded so far.
    public func enableDirtyTracking() {
        dirty.withLock { bitmap in
            if bitmap == nil {
                bitmap = DirtyBitmap(regionSize: size)
            }
        }
    }

    /// Page indices (4 KiB pages, counted from the region's start) written since the last call,
    /// sorted; clears them. Empty when tracking is not enabled.
    public func takeDirtyPages() -> [UInt64] {
        dirty.withLock { bitmap in
            bitmap?.take() ?? []
        }
    }

    /// Whether dirty tracking has been enabled.
    public var isDirtyTrackingEnabled: Bool {
        dirty.withLock { $0 != nil }
    }

    func markDirty(offset: UInt64, count: UInt64) {
        dirty.withLock { bitmap in
            bitmap?.mark(offset: offset, count: count)
        }
    }

    // MARK: - Raw access for GuestMemoryMap (offsets already validated by the caller)

    /// Copies `destination.count` bytes from offset. Caller proved offset + count ≤ size.
    func copyOut(offset: Int, into destination: UnsafeMutableRawBufferPointer) {
        assert(offset >= 0 && offset <= byteCount && destination.count <= byteCount - offset)
        guard let target = destination.baseAddress else { return }  // empty: nothing to copy
        // Sound: [offset, offset + count) lies inside the live mapping (validated by the caller) and
        // `target` has `count` writable bytes; copyMemory tolerates overlap (memmove).
        unsafe target.copyMemory(from: base + offset, byteCount: destination.count)
    }

    /// Copies `source.count` bytes to offset. Caller proved offset + count ≤ size.
    func copyIn(offset: Int, from source: UnsafeRawBufferPointer) {
        assert(offset >= 0 && offset <= byteCount && source.count <= byteCount - offset)
        guard let origin = source.baseAddress else { return }  // empty: nothing to copy
        // Sound: destination range lies inside the live mapping (validated by the caller) and
        // `origin` has `count` readable bytes; copyMemory tolerates overlap (memmove).
        unsafe (base + offset).copyMemory(from: origin, byteCount: source.count)
    }

    /// Sets `count` bytes at offset to `byte`. Caller proved offset + count ≤ size.
    func fill(offset: Int, count: Int, byte: UInt8) {
        assert(offset >= 0 && count >= 0 && count <= byteCount - offset)
        // Sound: [offset, offset + count) lies inside the live mapping (validated by the caller).
        _ = unsafe memset(base + offset, Int32(byte), count)
    }

    /// An atomic view of the UInt16 at offset. Caller proved offset is even and offset + 2 ≤ size;
    /// `base` is page-aligned, so the host address is 2-byte aligned too.
    func atomicUInt16(offset: Int) -> UnsafeAtomic<UInt16> {
        assert(offset >= 0 && offset % 2 == 0 && offset <= byteCount - 2)
        // Sound: the two bytes are inside the mapping, aligned, and only ever accessed as raw bytes
        // or through this atomic view, whose representation is a plain 16-bit integer.
        let pointer = unsafe (base + offset).assumingMemoryBound(to: UnsafeAtomic<UInt16>.Storage.self)
        return unsafe UnsafeAtomic<UInt16>(at: pointer)  // Sound: pointer is valid while self lives; the view is not stored.
    }
}
