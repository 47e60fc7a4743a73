// Disk files the launcher creates before a VM starts: KubeVirt's emptyDisk (a blank disk of
// `capacity`, here a sparse raw file rather than qcow2) and hostDisk with type DiskOrCreate (a file
// created when missing, used as it is when present). Neither ever truncates data that is there.
import Glibc

public enum DiskImageFile {
    public enum Outcome: Equatable, Sendable {
        /// A new sparse file of the requested size.
        case created
        /// An existing file, grown (sparsely) from this many bytes to the requested size.
        case extended(fromBytes: UInt64)
        /// An existing file, left exactly as it was.
        case existing(bytes: UInt64)
    }

    /// emptyDisk: a sparse file of `capacityBytes`. An existing smaller file is grown (its data kept,
    /// as when a restarted launcher finds the disk of its previous run), an equal one is reused, and a
    /// larger one is refused: shrinking would cut off data.
    @discardableResult
    public static func createEmptyDisk(path: String, capacityBytes: UInt64, mode: mode_t = 0o600) throws(BlockError) -> Outcome {
        try prepare(path: path, capacityBytes: capacityBytes, mode: mode, growExisting: true)
    }

    /// hostDisk DiskOrCreate: a sparse file of `capacityBytes` when `path` does not exist; an existing
    /// file is neither truncated nor grown.
    @discardableResult
    public static func openOrCreateHostDisk(path: String, capacityBytes: UInt64, mode: mode_t = 0o600) throws(BlockError) -> Outcome {
        try prepare(path: path, capacityBytes: capacityBytes, mode: mode, growExisting: false)
    }

    private static func prepare(path: String, capacityBytes: UInt64, mode: mode_t, growExisting: Bool) throws(BlockError) -> Outcome {
        guard capacityBytes <= UInt64(Int64.max) else {
            throw .outOfRange(sector: capacityBytes / UInt64(blockSectorSize), byteCount: 0)
        }
        // O_EXCL: between "does it exist" and "create it" nobody else's file can be truncated.
        // Never O_TRUNC.
        var created = true
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 && errno == EEXIST {
            created = false
            fd = open(path, O_RDWR | O_CLOEXEC)
        }
        guard fd >= 0 else { throw .io(created ? .create : .open, errno: errno) }
        defer { _ = close(fd) }
        if created {
            guard ftruncate(fd, off_t(capacityBytes)) == 0, fsync(fd) == 0 else {
                let error = errno
                unlink(path)
                throw .io(.truncate, errno: error)
            }
            return .created
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(.stat, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notFileOrBlockDevice }
        let current = UInt64(max(info.st_size, 0))
        if current > capacityBytes && growExisting {
            throw .wouldShrink(path: path, currentBytes: current, requestedBytes: capacityBytes)
        }
        guard growExisting && current < capacityBytes else { return .existing(bytes: current) }
        guard ftruncate(fd, off_t(capacityBytes)) == 0, fsync(fd) == 0 else { throw .io(.truncate, errno: errno) }
        return .extended(fromBytes: current)
    }
}
