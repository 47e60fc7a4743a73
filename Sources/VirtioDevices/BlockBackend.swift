// The virtio-blk backend: a raw image file or a block device, with byte-exact I/O and no queue in
// sight. Every entry point returns a Result; an I/O error becomes IOERR for the guest, never a trap.
import Glibc
import Synchronization

public final class BlockFileBackend: Sendable {
    /// GET_ID answers with exactly this many bytes (VIRTIO_BLK_ID_BYTES).
    public static let idSize = 20

    /// Whole 512-byte sectors. A regular file's trailing partial sector is not exposed, so every
    /// sector the guest can address is backed by the file.
    public let capacitySectors: UInt64
    public let readOnly: Bool
    public let isBlockDevice: Bool
    /// The serial as GET_ID returns it: UTF-8, cut to 20 bytes, NUL-padded to 20.
    public let id: [UInt8]

    let calls: BlockSystemCalls
    private let state: Mutex<State>

    private struct State {
        /// nil once closed, so no later request can reach a descriptor number reused elsewhere.
        var fd: Int32?
        var flushFailed = false
    }

    /// Opens `path` (a raw image or a block device). `serial` is cut to 20 bytes of UTF-8; a cut in
    /// the middle of a character is acceptable because the guest sees the ID as bytes.
    public convenience init(path: String, readOnly: Bool = false, serial: String = "") throws(BlockError) {
        try self.init(path: path, readOnly: readOnly, serial: serial, calls: .system)
    }

    init(path: String, readOnly: Bool, serial: String, calls: BlockSystemCalls) throws(BlockError) {
        // O_CLOEXEC: a child the VMM spawns must not inherit (and keep open) the guest's disk.
        let fd = Glibc.open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw .io(.open, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = errno
            _ = Glibc.close(fd)
            throw .io(.stat, errno: error)
        }
        let bytes: UInt64
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            bytes = UInt64(max(info.st_size, 0))
            isBlockDevice = false
        case S_IFBLK:
            var size: UInt64 = 0
            // Sound: BLKGETSIZE64 writes one u64 into `size`, which lives for the whole call.
            guard ioctl(fd, blkGetSize64, &size) == 0 else {
                let error = errno
                _ = Glibc.close(fd)
                throw .io(.getSize, errno: error)
            }
            bytes = size
            isBlockDevice = true
        default:
            _ = Glibc.close(fd)
            throw .notFileOrBlockDevice
        }
        capacitySectors = bytes / UInt64(blockSectorSize)
        self.readOnly = readOnly
        let serialBytes = Array(serial.utf8.prefix(Self.idSize))
        id = serialBytes + [UInt8](repeating: 0, count: Self.idSize - serialBytes.count)
        self.calls = calls
        state = Mutex(State(fd: fd))
    }

    deinit {
        // Last line of defence for "nothing on disk is lost": a backend dropped without close()
        // still reaches stable storage. Errors cannot be reported from here.
        state.withLock { state in
            guard let fd = state.fd else { return }
            if !readOnly { _ = calls.fdatasync(fd) }
            _ = Glibc.close(fd)
            state.fd = nil
        }
    }

    /// Reads `count` bytes (a multiple of 512) from `sector`. Bytes past the end of a file that
    /// shrank after opening read as zeros, like the holes of a sparse file.
    public func read(sector: UInt64, count: Int) -> Result<[UInt8], BlockError> {
        guard count % blockSectorSize == 0 else { return .failure(.lengthNotSectorMultiple(count)) }
        let extent: BlockExtent
        switch BlockExtent.checked(sector: sector, byteCount: count, capacitySectors: capacitySectors) {
        case .success(let checked): extent = checked
        case .failure(let error): return .failure(error)
        }
        return withDescriptor { fd in
            var buffer = [UInt8](repeating: 0, count: extent.length)
            let result = buffer.withUnsafeMutableBytes { readFully(fd: fd, into: $0, at: extent.offset) }
            return result.map { buffer }
        }
    }

    /// Writes `bytes` (a multiple of 512) at `sector`. Completion means the kernel has the data,
    /// not the disk: FLUSH makes it stable.
    public func write(sector: UInt64, bytes: [UInt8]) -> Result<Void, BlockError> {
        guard !readOnly else { return .failure(.readOnly) }
        guard bytes.count % blockSectorSize == 0 else {
            return .failure(.lengthNotSectorMultiple(bytes.count))
        }
        let extent: BlockExtent
        switch BlockExtent.checked(sector: sector, byteCount: bytes.count, capacitySectors: capacitySectors) {
        case .success(let checked): extent = checked
        case .failure(let error): return .failure(error)
        }
        return withDescriptor { fd in
            bytes.withUnsafeBytes { writeFully(fd: fd, from: $0, at: extent.offset) }
        }
    }

    /// fdatasync: every completed write is on stable storage when this returns success.
    public func flush() -> Result<Void, BlockError> {
        state.withLock { state in
            guard let fd = state.fd else { return .failure(.closed) }
            return flushLocked(fd: fd, state: &state)
        }
    }

    /// Deallocates the ranges. All segments are range-checked before any is touched. Discard is a
    /// hint (the specification says MAY), so a file system without hole punching still succeeds.
    public func discard(segments: [BlockDiscardSegment]) -> Result<Void, BlockError> {
        guard !readOnly else { return .failure(.readOnly) }
        let extents: [BlockExtent]
        switch checkedExtents(segments) {
        case .success(let checked): extents = checked
        case .failure(let error): return .failure(error)
        }
        return withDescriptor { fd in
            for extent in extents where extent.length > 0 {
                switch fallocateRetrying(fd: fd, mode: fallocPunchHole | fallocKeepSize, extent) {
                case .done, .failed(errno: EOPNOTSUPP), .failed(errno: ENOSYS): continue
                case .failed(let error): return .failure(.io(.punchHole, errno: error))
                }
            }
            return .success(())
        }
    }

    /// Makes the ranges read as zeros. With the unmap flag a punched hole does it; otherwise
    /// FALLOC_FL_ZERO_RANGE, and where the file system or device lacks that, plain zero writes.
    public func writeZeroes(segments: [BlockDiscardSegment]) -> Result<Void, BlockError> {
        guard !readOnly else { return .failure(.readOnly) }
        let extents: [BlockExtent]
        switch checkedExtents(segments) {
        case .success(let checked): extents = checked
        case .failure(let error): return .failure(error)
        }
        return withDescriptor { fd in
            for (segment, extent) in zip(segments, extents) where extent.length > 0 {
                if segment.unmap,
                    fallocateRetrying(fd: fd, mode: fallocPunchHole | fallocKeepSize, extent) == .done(0)
                {
                    continue
                }
                switch fallocateRetrying(fd: fd, mode: fallocZeroRange | fallocKeepSize, extent) {
                case .done:
                    continue
                case .failed(errno: EOPNOTSUPP), .failed(errno: ENOSYS), .failed(errno: EINVAL):
                    if case .failure(let error) = writeZeroBytes(fd: fd, extent) { return .failure(error) }
                case .failed(let error):
                    return .failure(.io(.zeroRange, errno: error))
                }
            }
            return .success(())
        }
    }

    /// Flushes (unless read-only) and closes. The descriptor is closed even when the flush fails, and
    /// the flush error is returned so shutdown can report that data may be lost. Closing twice is fine.
    @discardableResult
    public func close() -> Result<Void, BlockError> {
        state.withLock { state in
            guard let fd = state.fd else { return .success(()) }
            let flushed = flushLocked(fd: fd, state: &state)
            _ = Glibc.close(fd)
            state.fd = nil
            return flushed
        }
    }

    // MARK: - Under the lock

    /// Runs `body` with the open descriptor while holding the lock, so close() cannot run in the
    /// middle of a transfer and hand the number to another open().
    private func withDescriptor<T>(_ body: (Int32) -> Result<T, BlockError>) -> Result<T, BlockError> {
        state.withLock { state in
            guard let fd = state.fd else { return .failure(.closed) }
            return body(fd)
        }
    }

    private func flushLocked(fd: Int32, state: inout State) -> Result<Void, BlockError> {
        // Nothing was written through a read-only descriptor, so there is nothing to make stable.
        guard !readOnly else { return .success(()) }
        guard !state.flushFailed else { return .failure(.flushFailedEarlier) }
        while true {
            switch calls.fdatasync(fd) {
            case .done: return .success(())
            case .failed(errno: EINTR): continue
            case .failed(let error):
                state.flushFailed = true
                return .failure(.io(.flush, errno: error))
            }
        }
    }

    private func checkedExtents(_ segments: [BlockDiscardSegment]) -> Result<[BlockExtent], BlockError> {
        var extents: [BlockExtent] = []
        extents.reserveCapacity(segments.count)
        for segment in segments {
            // sectorCount is u32, so sectorCount * 512 < 2^41 fits Int on 64-bit hosts.
            let byteCount = Int(segment.sectorCount) * blockSectorSize
            switch BlockExtent.checked(sector: segment.sector, byteCount: byteCount, capacitySectors: capacitySectors) {
            case .success(let extent): extents.append(extent)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(extents)
    }

    private func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        -> Result<Void, BlockError>
    {
        var done = 0
        while done < buffer.count {
            // Sound: done < buffer.count, so the rebased slice lies inside the buffer.
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            switch calls.pread(fd, rest, offset + Int64(done)) {
            case .done(0): return .success(())  // end of file: the rest stays zero
            case .done(let count) where count > 0 && count <= rest.count: done += count
            case .done: return .failure(.io(.read, errno: EIO))  // a count the call cannot return
            case .failed(errno: EINTR): continue
            case .failed(let error): return .failure(.io(.read, errno: error))
            }
        }
        return .success(())
    }

    private func writeFully(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64)
        -> Result<Void, BlockError>
    {
        var done = 0
        while done < buffer.count {
            // Sound: done < buffer.count, so the rebased slice lies inside the buffer.
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            switch calls.pwrite(fd, rest, offset + Int64(done)) {
            case .done(let count) where count > 0 && count <= rest.count: done += count
            // A zero-byte write would loop for ever; the kernel returns it only when out of space.
            case .done(0): return .failure(.io(.write, errno: ENOSPC))
            case .done: return .failure(.io(.write, errno: EIO))
            case .failed(errno: EINTR): continue
            case .failed(let error): return .failure(.io(.write, errno: error))
            }
        }
        return .success(())
    }

    private func writeZeroBytes(fd: Int32, _ extent: BlockExtent) -> Result<Void, BlockError> {
        // Bounded chunks: a guest-sized range (up to 2 TiB per segment) must not become one allocation.
        let chunk = [UInt8](repeating: 0, count: min(extent.length, 1 << 20))
        var done = 0
        while done < extent.length {
            let count = min(chunk.count, extent.length - done)
            let result = chunk.withUnsafeBytes { all in
                // Sound: count <= chunk.count.
                writeFully(fd: fd, from: UnsafeRawBufferPointer(rebasing: all[..<count]), at: extent.offset + Int64(done))
            }
            if case .failure = result { return result }
            done += count
        }
        return .success(())
    }

    private func fallocateRetrying(fd: Int32, mode: Int32, _ extent: BlockExtent) -> BlockSyscallResult {
        while true {
            let result = calls.fallocate(fd, mode, extent.offset, Int64(extent.length))
            if result != .failed(errno: EINTR) { return result }
        }
    }
}
