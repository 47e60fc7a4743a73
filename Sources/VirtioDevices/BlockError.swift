// One error type for the virtio-blk layer: malformed requests name what was wrong, I/O failures carry
// the operation and the errno. None of them is fatal to the VMM: the processor turns each into a
// status byte for the guest.

/// The host operations the block backend performs, named after their system calls.
public enum BlockOperation: String, Sendable, CustomStringConvertible {
    case open = "open"
    case stat = "fstat"
    case getSize = "ioctl(BLKGETSIZE64)"
    case read = "pread"
    case write = "pwrite"
    case flush = "fdatasync"
    case punchHole = "fallocate(PUNCH_HOLE)"
    case zeroRange = "fallocate(ZERO_RANGE)"
    // Copy-on-write overlays and disk files the launcher creates.
    case openBase = "open(base)"
    case readBase = "pread(base)"
    case openOverlay = "open(overlay)"
    case lockOverlay = "flock(overlay)"
    case readMetadata = "pread(overlay metadata)"
    case writeMetadata = "pwrite(overlay metadata)"
    case truncate = "ftruncate"
    case create = "open(O_CREAT)"

    public var description: String { rawValue }
}

public enum BlockError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The header needs 16 bytes; the driver gave fewer.
    case headerTooShort(Int)
    /// Discard/write-zeroes data is empty or not a whole number of 16-byte segments.
    case malformedSegments(byteCount: Int)
    /// More segments than `max_discard_seg` / `max_write_zeroes_seg` allow.
    case tooManySegments(Int)
    /// A segment longer than `max_discard_sectors` / `max_write_zeroes_sectors`.
    case segmentTooLong(UInt32)
    /// The request has no device-writable byte to put the status in.
    case noStatusByte
    /// A transfer length that is not a whole number of 512-byte sectors.
    case lengthNotSectorMultiple(Int)
    /// A transfer longer than the device advertises (`seg_max * size_max`).
    case transferTooLong(Int)
    /// `sector * 512 + length` overflows or goes past the end of the disk.
    case outOfRange(sector: UInt64, byteCount: Int)
    /// A write, discard or write-zeroes on a read-only disk.
    case readOnly
    /// The path is neither a regular file nor a block device.
    case notFileOrBlockDevice
    /// The backend was closed; later requests fail instead of using a reused descriptor number.
    case closed
    /// An earlier fdatasync failed: Linux reports a writeback error once, so a later fdatasync could
    /// succeed although data was lost. Flushes keep failing to say so.
    case flushFailedEarlier
    /// A system call failed.
    case io(BlockOperation, errno: Int32)
    /// The overlay file is not a copy-on-write overlay this code wrote, or its header is inconsistent.
    case overlayInvalid(reason: String)
    /// The overlay was made for a base of another size: its clusters would land on the wrong data.
    case overlayBaseMismatch(overlayBytes: UInt64, baseBytes: UInt64)
    /// An existing disk file is larger than the capacity asked for; shrinking it would destroy data.
    case wouldShrink(path: String, currentBytes: UInt64, requestedBytes: UInt64)

    public var description: String {
        switch self {
        case .headerTooShort(let count): "request header is \(count) bytes, needs 16"
        case .malformedSegments(let count): "discard/write-zeroes data of \(count) bytes is not whole segments"
        case .tooManySegments(let count): "\(count) segments exceed the advertised maximum"
        case .segmentTooLong(let sectors): "segment of \(sectors) sectors exceeds the advertised maximum"
        case .noStatusByte: "request has no writable byte for the status"
        case .lengthNotSectorMultiple(let count): "transfer of \(count) bytes is not a multiple of 512"
        case .transferTooLong(let count): "transfer of \(count) bytes exceeds seg_max * size_max"
        case .outOfRange(let sector, let count): "sector \(sector) + \(count) bytes is outside the disk"
        case .readOnly: "disk is read-only"
        case .notFileOrBlockDevice: "not a regular file or block device"
        case .closed: "disk is closed"
        case .flushFailedEarlier: "an earlier flush failed; data may have been lost"
        case .io(let operation, let errno): "\(operation) failed with errno \(errno)"
        case .overlayInvalid(let reason): "copy-on-write overlay is invalid: \(reason)"
        case .overlayBaseMismatch(let overlay, let base):
            "copy-on-write overlay was made for a base of \(overlay) bytes, the base has \(base)"
        case .wouldShrink(let path, let current, let requested):
            "\(path) holds \(current) bytes, more than the \(requested) asked for; refusing to shrink it"
        }
    }
}
