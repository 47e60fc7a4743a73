// virtio-blk request wire format (virtio 1.2, 5.2.6): the 16-byte header, the discard/write-zeroes
// segments and the status byte. Everything here works on bytes already copied out of guest memory,
// so it can be validated and tested without a queue.

/// Bytes per virtio-blk sector. Fixed at 512 by the specification, whatever `blk_size` says.
public let blockSectorSize = 512

/// Request types from the `type` field of the header. Unknown values are kept, not trapped on,
/// so the device can answer them with `unsupported`.
public enum BlockRequestType: Equatable, Sendable {
    case read  // VIRTIO_BLK_T_IN
    case write  // VIRTIO_BLK_T_OUT
    case flush
    case getID
    case discard
    case writeZeroes
    case unknown(UInt32)

    public init(rawValue: UInt32) {
        switch rawValue {
        case 0: self = .read
        case 1: self = .write
        case 4: self = .flush
        case 8: self = .getID
        case 11: self = .discard
        case 13: self = .writeZeroes
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: UInt32 {
        switch self {
        case .read: 0
        case .write: 1
        case .flush: 4
        case .getID: 8
        case .discard: 11
        case .writeZeroes: 13
        case .unknown(let raw): raw
        }
    }
}

/// The status byte the device writes last into the request's writable buffers.
public enum BlockStatus: UInt8, Sendable {
    case ok = 0
    case ioError = 1
    case unsupported = 2
}

/// The request header: `le32 type; le32 reserved; le64 sector`.
public struct BlockRequestHeader: Equatable, Sendable {
    public static let size = 16

    public var type: BlockRequestType
    /// Kept for logging only: the specification gives it no meaning.
    public var reserved: UInt32
    public var sector: UInt64

    public init(type: BlockRequestType, reserved: UInt32 = 0, sector: UInt64) {
        self.type = type
        self.reserved = reserved
        self.sector = sector
    }

    /// Parses the first 16 bytes. Extra bytes are ignored because drivers may put the header and the
    /// data in one descriptor; the caller decides where the data starts.
    public static func parse(_ bytes: [UInt8]) -> Result<BlockRequestHeader, BlockError> {
        guard bytes.count >= size else { return .failure(.headerTooShort(bytes.count)) }
        return .success(BlockRequestHeader(
            type: BlockRequestType(rawValue: BlockBytes.load(UInt32.self, bytes, at: 0)),
            reserved: BlockBytes.load(UInt32.self, bytes, at: 4),
            sector: BlockBytes.load(UInt64.self, bytes, at: 8)))
    }

    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        BlockBytes.append(type.rawValue, to: &out)
        BlockBytes.append(reserved, to: &out)
        BlockBytes.append(sector, to: &out)
        return out
    }
}

/// One range of a discard or write-zeroes request: `le64 sector; le32 num_sectors; le32 flags`.
public struct BlockDiscardSegment: Equatable, Sendable {
    public static let size = 16
    /// VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP: write-zeroes may deallocate instead of writing.
    public static let unmapFlag: UInt32 = 1 << 0

    public var sector: UInt64
    public var sectorCount: UInt32
    public var flags: UInt32

    public init(sector: UInt64, sectorCount: UInt32, flags: UInt32 = 0) {
        self.sector = sector
        self.sectorCount = sectorCount
        self.flags = flags
    }

    public var unmap: Bool { flags & Self.unmapFlag != 0 }
    /// Flags this device does not know; the specification requires UNSUPP when any is set.
    public var unknownFlags: UInt32 { flags & ~Self.unmapFlag }

    /// Parses the data bytes of a discard/write-zeroes request. An empty list or a trailing partial
    /// segment is malformed: the driver always sends whole segments.
    public static func parseList(_ bytes: [UInt8]) -> Result<[BlockDiscardSegment], BlockError> {
        guard !bytes.isEmpty, bytes.count % size == 0 else {
            return .failure(.malformedSegments(byteCount: bytes.count))
        }
        var segments: [BlockDiscardSegment] = []
        segments.reserveCapacity(bytes.count / size)
        var offset = 0
        while offset < bytes.count {
            segments.append(BlockDiscardSegment(
                sector: BlockBytes.load(UInt64.self, bytes, at: offset),
                sectorCount: BlockBytes.load(UInt32.self, bytes, at: offset + 8),
                flags: BlockBytes.load(UInt32.self, bytes, at: offset + 12)))
            offset += size
        }
        return .success(segments)
    }

    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        BlockBytes.append(sector, to: &out)
        BlockBytes.append(sectorCount, to: &out)
        BlockBytes.append(flags, to: &out)
        return out
    }
}

/// A byte range of the disk that has been checked against the capacity. Only `BlockExtent.checked`
/// makes one, so the backend never sees an offset the guest could have overflowed.
public struct BlockExtent: Equatable, Sendable {
    public let offset: Int64
    public let length: Int

    /// `sector * 512 + byteCount` with every step overflow-checked and the end within
    /// `capacitySectors * 512`. The end must also fit `off_t` (Int64) for pread/pwrite.
    public static func checked(sector: UInt64, byteCount: Int, capacitySectors: UInt64)
        -> Result<BlockExtent, BlockError>
    {
        let outOfRange = BlockError.outOfRange(sector: sector, byteCount: byteCount)
        guard byteCount >= 0 else { return .failure(outOfRange) }
        let (start, startOverflow) = sector.multipliedReportingOverflow(by: UInt64(blockSectorSize))
        let (end, endOverflow) = start.addingReportingOverflow(UInt64(byteCount))
        let (limit, limitOverflow) = capacitySectors.multipliedReportingOverflow(
            by: UInt64(blockSectorSize))
        guard !startOverflow, !endOverflow, !limitOverflow, end <= limit,
            end <= UInt64(Int64.max)
        else { return .failure(outOfRange) }
        return .success(BlockExtent(offset: Int64(start), length: byteCount))
    }
}

// Little-endian helpers, namespaced so they cannot collide with helpers other virtio files add.
// Callers check the bounds first; these go byte by byte so host byte order and alignment never matter.
enum BlockBytes {
    static func load<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for index in 0..<(T.bitWidth / 8) {
            value |= T(bytes[offset + index]) << (index * 8)
        }
        return value
    }

    static func append<T: FixedWidthInteger & UnsignedInteger>(_ value: T, to bytes: inout [UInt8]) {
        for index in 0..<(T.bitWidth / 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (index * 8)))
        }
    }

    static func store<T: FixedWidthInteger & UnsignedInteger>(_ value: T, in bytes: inout [UInt8], at offset: Int) {
        for index in 0..<(T.bitWidth / 8) {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8))
        }
    }
}
