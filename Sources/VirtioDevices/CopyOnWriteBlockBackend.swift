// A disk that reads a read-only base image (a containerDisk) and keeps every change in an overlay
// file, in clusters (64 KiB by default). The base is opened O_RDONLY and never written: the same
// image can back many VMs, and it is byte-identical after any of them ran.
// - read: overlay where the cluster bit is set, base elsewhere (bytes past a shrunk base read zeros).
// - write: a partly written cluster the overlay does not hold yet is first copied up from the base
//   whole; then the data goes to the overlay and the clusters' bits are set.
// - write-zeroes: the same, with the range zeroed in the overlay (hole punched with the unmap flag).
// - discard: clusters wholly inside the range become zero clusters (hole punched, bit set), so the
//   base's old data never reappears; partial clusters the overlay holds get a hole; partial clusters
//   it does not hold keep reading the base (discard is a hint; virtio leaves their contents open).
// - flush: fdatasync the data, then write the changed bitmap pages, then fdatasync again
//   (ordering explained in CopyOnWriteOverlayFormat.swift).
import Glibc
import Synchronization

public final class CopyOnWriteBlockBackend: BlockBackend {
    public static let defaultClusterSize = 64 << 10

    public let capacitySectors: UInt64
    /// The overlay takes writes; a read-only disk over a base needs no overlay (use BlockFileBackend).
    public let readOnly = false
    public let id: [UInt8]
    public var clusterSize: Int { layout.clusterSize }

    let layout: CopyOnWriteLayout
    let calls: BlockSystemCalls
    private let state: Mutex<State>

    private struct State {
        /// Both nil once closed, so no later request can reach a descriptor number reused elsewhere.
        var base: Int32?
        var overlay: Int32?
        var bitmap: ClusterBitmap
        var flushFailed = false
    }

    /// Opens `basePath` read-only and `overlayPath` read-write. A missing or empty overlay file is
    /// created and formatted for this base with `clusterSize`; an existing one must have been made
    /// for a base of the same size (its own cluster size is used). The overlay is locked (flock) so
    /// that a second VMM cannot write through it at the same time.
    public convenience init(basePath: String, overlayPath: String, serial: String = "",
                            clusterSize: Int = defaultClusterSize) throws(BlockError) {
        try self.init(basePath: basePath, overlayPath: overlayPath, serial: serial, clusterSize: clusterSize, calls: .system)
    }

    init(basePath: String, overlayPath: String, serial: String, clusterSize: Int, calls: BlockSystemCalls) throws(BlockError) {
        guard CopyOnWriteLayout.validClusterSize(clusterSize) else {
            throw .overlayInvalid(reason: "cluster size \(clusterSize) is not a power of two in 4 KiB...2 MiB")
        }
        // O_CLOEXEC: a child the VMM spawns must not inherit (and keep open) the guest's disk.
        let base = Glibc.open(basePath, O_RDONLY | O_CLOEXEC)
        guard base >= 0 else { throw .io(.openBase, errno: errno) }
        var baseInfo = stat()
        let baseBytes: UInt64
        switch Self.size(of: base, info: &baseInfo) {
        case .success(let bytes): baseBytes = bytes
        case .failure(let error):
            _ = Glibc.close(base)
            throw error
        }
        let overlay = Glibc.open(overlayPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard overlay >= 0 else {
            let error = errno
            _ = Glibc.close(base)
            throw .io(.openOverlay, errno: error)
        }
        let capacity = baseBytes / UInt64(blockSectorSize) * UInt64(blockSectorSize)
        let bitmap: ClusterBitmap
        switch Self.prepareOverlay(overlay, baseInfo: baseInfo, capacity: capacity, clusterSize: clusterSize, calls: calls) {
        case .success(let (opened, bits)):
            layout = opened
            bitmap = bits
        case .failure(let error):
            _ = Glibc.close(overlay)
            _ = Glibc.close(base)
            throw error
        }
        capacitySectors = capacity / UInt64(blockSectorSize)
        id = blockSerialID(serial)
        self.calls = calls
        state = Mutex(State(base: base, overlay: overlay, bitmap: bitmap))
    }

    deinit {
        // As BlockFileBackend: a backend dropped without close() still makes its data stable.
        state.withLock { state in
            if state.overlay != nil { _ = flushLocked(&state) }
            closeLocked(&state)
        }
    }

    // MARK: - BlockBackend

    public func read(sector: UInt64, count: Int) -> Result<[UInt8], BlockError> {
        guard count % blockSectorSize == 0 else { return .failure(.lengthNotSectorMultiple(count)) }
        let extent: BlockExtent
        switch BlockExtent.checked(sector: sector, byteCount: count, capacitySectors: capacitySectors) {
        case .success(let checked): extent = checked
        case .failure(let error): return .failure(error)
        }
        return withOpen { state in
            var buffer = [UInt8](repeating: 0, count: extent.length)
            let result = buffer.withUnsafeMutableBytes { readLocked(state, into: $0, at: extent.offset) }
            return result.map { buffer }
        }
    }

    public func write(sector: UInt64, bytes: [UInt8]) -> Result<Void, BlockError> {
        guard bytes.count % blockSectorSize == 0 else { return .failure(.lengthNotSectorMultiple(bytes.count)) }
        let extent: BlockExtent
        switch BlockExtent.checked(sector: sector, byteCount: bytes.count, capacitySectors: capacitySectors) {
        case .success(let checked): extent = checked
        case .failure(let error): return .failure(error)
        }
        return withOpen { state in
            guard extent.length > 0 else { return .success(()) }
            if case .failure(let error) = copyUpPartialClusters(&state, extent) { return .failure(error) }
            let written = bytes.withUnsafeBytes { writeFully(state.overlay!, from: $0, at: extent.offset) }
            if case .failure = written { return written }
            state.bitmap.set(clusters(touching: extent))
            return .success(())
        }
    }

    public func flush() -> Result<Void, BlockError> {
        state.withLock { state in
            guard state.overlay != nil else { return .failure(.closed) }
            return flushLocked(&state)
        }
    }

    public func writeZeroes(segments: [BlockDiscardSegment]) -> Result<Void, BlockError> {
        let extents: [BlockExtent]
        switch checkedExtents(segments) {
        case .success(let checked): extents = checked
        case .failure(let error): return .failure(error)
        }
        return withOpen { state in
            for (segment, extent) in zip(segments, extents) where extent.length > 0 {
                if case .failure(let error) = copyUpPartialClusters(&state, extent) { return .failure(error) }
                if case .failure(let error) = zeroOverlay(state.overlay!, extent, unmap: segment.unmap) {
                    return .failure(error)
                }
                state.bitmap.set(clusters(touching: extent))
            }
            return .success(())
        }
    }

    public func discard(segments: [BlockDiscardSegment]) -> Result<Void, BlockError> {
        let extents: [BlockExtent]
        switch checkedExtents(segments) {
        case .success(let checked): extents = checked
        case .failure(let error): return .failure(error)
        }
        return withOpen { state in
            for extent in extents where extent.length > 0 {
                let whole = clusters(inside: extent)
                let start = Int64(whole.lowerBound) * Int64(clusterSize)
                let end = min(Int64(whole.upperBound) * Int64(clusterSize), Int64(layout.capacityBytes))
                if !whole.isEmpty {
                    switch punch(state.overlay!, offset: start, length: end - start) {
                    case .done: state.bitmap.set(whole)
                    case .failed(errno: EOPNOTSUPP), .failed(errno: ENOSYS): break  // a hint: nothing changes
                    case .failed(let error): return .failure(.io(.punchHole, errno: error))
                    }
                }
                // Head and tail pieces (at most two clusters): only where the overlay holds the cluster.
                let extentEnd = extent.offset + Int64(extent.length)
                let touched = clusters(touching: extent)
                for cluster in Set([touched.lowerBound, touched.upperBound - 1])
                where !whole.contains(cluster) && state.bitmap.isSet(cluster) {
                    let from = max(extent.offset, Int64(cluster) * Int64(clusterSize))
                    let to = min(extentEnd, Int64(cluster + 1) * Int64(clusterSize))
                    switch punch(state.overlay!, offset: from, length: to - from) {
                    case .done, .failed(errno: EOPNOTSUPP), .failed(errno: ENOSYS): continue
                    case .failed(let error): return .failure(.io(.punchHole, errno: error))
                    }
                }
            }
            return .success(())
        }
    }

    @discardableResult
    public func close() -> Result<Void, BlockError> {
        state.withLock { state in
            guard state.overlay != nil else { return .success(()) }
            let flushed = flushLocked(&state)
            closeLocked(&state)
            return flushed
        }
    }

    /// Clusters the overlay holds, for tests and diagnostics.
    public var allocatedClusterCount: Int {
        state.withLock { state in (0..<layout.clusterCount).filter { state.bitmap.isSet($0) }.count }
    }

    // MARK: - Opening

    /// Size of a regular file or block device; anything else is refused.
    private static func size(of fd: Int32, info: inout stat) -> Result<UInt64, BlockError> {
        guard fstat(fd, &info) == 0 else { return .failure(.io(.stat, errno: errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return .success(UInt64(max(info.st_size, 0)))
        case S_IFBLK:
            var size: UInt64 = 0
            // Sound: BLKGETSIZE64 writes one u64 into `size`, which lives for the whole call.
            guard ioctl(fd, blkGetSize64, &size) == 0 else { return .failure(.io(.getSize, errno: errno)) }
            return .success(size)
        default:
            return .failure(.notFileOrBlockDevice)
        }
    }

    private static func prepareOverlay(_ fd: Int32, baseInfo: stat, capacity: UInt64, clusterSize: Int,
                                       calls: BlockSystemCalls) -> Result<(CopyOnWriteLayout, ClusterBitmap), BlockError> {
        // Two VMMs writing one overlay would corrupt it; the lock goes when the descriptor closes.
        // A short retry: after a close the lock can live on for the moment a child that some thread
        // is forking holds a copy of the descriptor, until its exec closes it (O_CLOEXEC).
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR, attempts < 50 else { return .failure(.io(.lockOverlay, errno: error)) }
            attempts += 1
            usleep(10_000)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.io(.stat, errno: errno)) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .failure(.overlayInvalid(reason: "not a regular file")) }
        guard info.st_dev != baseInfo.st_dev || info.st_ino != baseInfo.st_ino else {
            return .failure(.overlayInvalid(reason: "the overlay is the base file itself"))
        }
        if info.st_size == 0 {
            // New overlay: a sparse file of the final size, then the header, made stable before use.
            let layout = CopyOnWriteLayout(clusterSize: clusterSize, capacityBytes: capacity)
            guard ftruncate(fd, off_t(layout.fileSize)) == 0 else { return .failure(.io(.truncate, errno: errno)) }
            let header = layout.headerBytes()
            let written = header.withUnsafeBytes {
                pwriteAll(fd, $0, at: layout.headerOffset, calls: calls, operation: .writeMetadata)
            }
            if case .failure(let error) = written { return .failure(error) }
            if case .failed(let error) = calls.fdatasync(fd) { return .failure(.io(.flush, errno: error)) }
            return .success((layout, ClusterBitmap(clusterCount: layout.clusterCount)))
        }
        let fileSize = Int64(info.st_size)
        guard fileSize >= Int64(CopyOnWriteLayout.headerSize) else {
            return .failure(.overlayInvalid(reason: "file of \(fileSize) bytes is too small for a header"))
        }
        var header = [UInt8](repeating: 0, count: CopyOnWriteLayout.headerSize)
        let offset = fileSize - Int64(CopyOnWriteLayout.headerSize)
        if case .failure(let error) = header.withUnsafeMutableBytes({ preadAll(fd, $0, at: offset, calls: calls) }) {
            return .failure(error)
        }
        let layout: CopyOnWriteLayout
        switch CopyOnWriteLayout.parse(header, fileSize: fileSize) {
        case .success(let parsed): layout = parsed
        case .failure(let error): return .failure(error)
        }
        guard layout.capacityBytes == capacity else {
            return .failure(.overlayBaseMismatch(overlayBytes: layout.capacityBytes, baseBytes: capacity))
        }
        var bits = [UInt8](repeating: 0, count: layout.bitmapBytes)
        if case .failure(let error) = bits.withUnsafeMutableBytes({ preadAll(fd, $0, at: layout.bitmapOffset, calls: calls) }) {
            return .failure(error)
        }
        return .success((layout, ClusterBitmap(bytes: bits)))
    }

    // MARK: - Under the lock

    private func withOpen<T>(_ body: (inout State) -> Result<T, BlockError>) -> Result<T, BlockError> {
        state.withLock { state in
            guard state.overlay != nil, state.base != nil else { return .failure(.closed) }
            return body(&state)
        }
    }

    private func closeLocked(_ state: inout State) {
        if let overlay = state.overlay { _ = Glibc.close(overlay) }
        if let base = state.base { _ = Glibc.close(base) }
        state.overlay = nil
        state.base = nil
    }

    private func flushLocked(_ state: inout State) -> Result<Void, BlockError> {
        guard !state.flushFailed else { return .failure(.flushFailedEarlier) }
        guard let overlay = state.overlay else { return .failure(.closed) }
        // Data first, then the bits that make it visible after a restart, then those bits.
        if case .failure(let error) = syncRetrying(overlay) {
            state.flushFailed = true
            return .failure(error)
        }
        guard let dirty = state.bitmap.takeDirty(page: CopyOnWriteLayout.page) else { return .success(()) }
        let written = state.bitmap.bytes.withUnsafeBytes { all in
            // Sound: `dirty` lies inside the bitmap (takeDirty clamps it to bytes.count).
            Self.pwriteAll(overlay, UnsafeRawBufferPointer(rebasing: all[dirty]), at: layout.bitmapOffset + Int64(dirty.lowerBound),
                      calls: calls, operation: .writeMetadata)
        }
        if case .failure(let error) = written.flatMap({ syncRetrying(overlay) }) {
            state.bitmap.markDirty(dirty)
            state.flushFailed = true
            return .failure(error)
        }
        return .success(())
    }

    private func syncRetrying(_ fd: Int32) -> Result<Void, BlockError> {
        while true {
            switch calls.fdatasync(fd) {
            case .done: return .success(())
            case .failed(errno: EINTR): continue
            case .failed(let error): return .failure(.io(.flush, errno: error))
            }
        }
    }

    /// Runs of clusters with the same owner, each read from the overlay or the base in one pread.
    private func readLocked(_ state: State, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        -> Result<Void, BlockError>
    {
        let end = offset + Int64(buffer.count)
        let size = Int64(clusterSize)
        var position = offset
        while position < end {
            let inOverlay = state.bitmap.isSet(Int(position / size))
            var runEnd = min(end, (position / size + 1) * size)
            while runEnd < end && state.bitmap.isSet(Int(runEnd / size)) == inOverlay {
                runEnd = min(end, runEnd + size)
            }
            let start = Int(position - offset)
            // Sound: start..<(start + run) lies inside the buffer because offset <= position < runEnd <= end.
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + Int(runEnd - position))])
            let result = inOverlay
                ? Self.preadAll(state.overlay!, slice, at: position, calls: calls, operation: .read)
                : Self.preadAll(state.base!, slice, at: position, calls: calls, operation: .readBase)
            if case .failure = result { return result }
            position = runEnd
        }
        return .success(())
    }

    /// Before a write or zeroing that covers only part of a cluster the overlay does not hold, the
    /// whole cluster is copied from the base, so the bytes the guest did not touch stay the base's.
    private func copyUpPartialClusters(_ state: inout State, _ extent: BlockExtent) -> Result<Void, BlockError> {
        let touched = clusters(touching: extent)
        for cluster in Set([touched.lowerBound, touched.upperBound - 1]) where !state.bitmap.isSet(cluster) {
            let start = Int64(cluster) * Int64(clusterSize)
            let end = min(start + Int64(clusterSize), Int64(layout.capacityBytes))
            if extent.offset <= start && extent.offset + Int64(extent.length) >= end { continue }  // fully overwritten
            var buffer = [UInt8](repeating: 0, count: Int(end - start))
            let copied = buffer.withUnsafeMutableBytes { bytes in
                Self.preadAll(state.base!, bytes, at: start, calls: calls, operation: .readBase)
                    .flatMap { writeFully(state.overlay!, from: UnsafeRawBufferPointer(bytes), at: start) }
            }
            if case .failure = copied { return copied }
        }
        return .success(())
    }

    private func zeroOverlay(_ fd: Int32, _ extent: BlockExtent, unmap: Bool) -> Result<Void, BlockError> {
        if unmap, punch(fd, offset: extent.offset, length: Int64(extent.length)) == .done(0) { return .success(()) }
        switch fallocateRetrying(fd, mode: fallocZeroRange | fallocKeepSize, offset: extent.offset, length: Int64(extent.length)) {
        case .done: return .success(())
        case .failed(errno: EOPNOTSUPP), .failed(errno: ENOSYS), .failed(errno: EINVAL): break
        case .failed(let error): return .failure(.io(.zeroRange, errno: error))
        }
        // Bounded chunks: a guest-sized range must not become one allocation.
        let chunk = [UInt8](repeating: 0, count: min(extent.length, 1 << 20))
        var done = 0
        while done < extent.length {
            let count = min(chunk.count, extent.length - done)
            let result = chunk.withUnsafeBytes { all in
                // Sound: count <= chunk.count.
                writeFully(fd, from: UnsafeRawBufferPointer(rebasing: all[..<count]), at: extent.offset + Int64(done))
            }
            if case .failure = result { return result }
            done += count
        }
        return .success(())
    }

    private func punch(_ fd: Int32, offset: Int64, length: Int64) -> BlockSyscallResult {
        fallocateRetrying(fd, mode: fallocPunchHole | fallocKeepSize, offset: offset, length: length)
    }

    private func fallocateRetrying(_ fd: Int32, mode: Int32, offset: Int64, length: Int64) -> BlockSyscallResult {
        while true {
            let result = calls.fallocate(fd, mode, offset, length)
            if result != .failed(errno: EINTR) { return result }
        }
    }

    private func writeFully(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) -> Result<Void, BlockError> {
        Self.pwriteAll(fd, buffer, at: offset, calls: calls)
    }

    /// Clusters that share at least one byte with the extent (length > 0).
    private func clusters(touching extent: BlockExtent) -> Range<Int> {
        let size = Int64(clusterSize)
        return Int(extent.offset / size)..<Int((extent.offset + Int64(extent.length) - 1) / size + 1)
    }

    /// Clusters wholly inside the extent; the disk's last cluster counts as whole when the extent
    /// reaches the end of the disk.
    private func clusters(inside extent: BlockExtent) -> Range<Int> {
        let size = Int64(clusterSize)
        let end = extent.offset + Int64(extent.length)
        let first = Int((extent.offset + size - 1) / size)
        let last = end == Int64(layout.capacityBytes) ? layout.clusterCount : Int(end / size)
        return first..<max(first, last)
    }

    private func checkedExtents(_ segments: [BlockDiscardSegment]) -> Result<[BlockExtent], BlockError> {
        var extents: [BlockExtent] = []
        for segment in segments {
            // sectorCount is u32, so sectorCount * 512 < 2^41 fits Int on 64-bit hosts.
            switch BlockExtent.checked(sector: segment.sector, byteCount: Int(segment.sectorCount) * blockSectorSize,
                                       capacitySectors: capacitySectors) {
            case .success(let extent): extents.append(extent)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(extents)
    }

    // MARK: - Whole transfers (short counts and EINTR retried)

    /// Bytes past the end of the file read as zeros (a base that shrank, the overlay's holes).
    static func preadAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64,
                         calls: BlockSystemCalls, operation: BlockOperation = .readMetadata) -> Result<Void, BlockError> {
        var done = 0
        while done < buffer.count {
            // Sound: done < buffer.count, so the rebased slice lies inside the buffer.
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            switch calls.pread(fd, rest, offset + Int64(done)) {
            case .done(0): return .success(())
            case .done(let count) where count > 0 && count <= rest.count: done += count
            case .done: return .failure(.io(operation, errno: EIO))
            case .failed(errno: EINTR): continue
            case .failed(let error): return .failure(.io(operation, errno: error))
            }
        }
        return .success(())
    }

    static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64,
                          calls: BlockSystemCalls, operation: BlockOperation = .write) -> Result<Void, BlockError> {
        var done = 0
        while done < buffer.count {
            // Sound: done < buffer.count, so the rebased slice lies inside the buffer.
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            switch calls.pwrite(fd, rest, offset + Int64(done)) {
            case .done(let count) where count > 0 && count <= rest.count: done += count
            // A zero-byte write would loop for ever; the kernel returns it only when out of space.
            case .done(0): return .failure(.io(operation, errno: ENOSPC))
            case .done: return .failure(.io(operation, errno: EIO))
            case .failed(errno: EINTR): continue
            case .failed(let error): return .failure(.io(operation, errno: error))
            }
        }
        return .success(())
    }
}
