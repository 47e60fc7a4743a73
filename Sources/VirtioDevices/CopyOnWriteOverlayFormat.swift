// On-disk format of a copy-on-write overlay (one file, so the launcher manages one path per disk):
//
//   [0, capacity)                 data, at the same offsets as on the disk; sparse where never written
//   [bitmapOffset, +bitmapBytes)  one bit per cluster: 1 = the overlay holds this cluster
//   [headerOffset, +4096)         header, in the file's last 4 KiB so it can be found without
//                                 knowing the layout
//
// Why a bitmap and not SEEK_DATA/SEEK_HOLE on the overlay: a punched hole reads as zeros, so after
// a discard or write-zeroes "hole" could mean either "never written, read the base" or "zeroed by
// the guest", and the base's old data would reappear. A bit, once set, stays set: the overlay data
// (zeros included) is authoritative for that cluster from then on.
//
// Crash consistency: bits are set in memory at once but written to the file only by a flush, after
// an fdatasync of the data. So the persisted bitmap never claims a cluster whose data (including the
// base bytes copied up into it) is not already stable; a crash loses unflushed writes, which the
// guest allows, and nothing else.
//
// Header (little-endian): magic "SVMMCOW1", version u32 = 1, cluster size u32, capacity u64 (bytes),
// cluster count u64, bitmap offset u64, bitmap bytes u64, FNV-1a of the preceding 48 bytes u32.

struct CopyOnWriteLayout: Equatable {
    static let magic = Array("SVMMCOW1".utf8)
    static let version: UInt32 = 1
    static let page = 4096
    static let headerSize = 4096
    static let minClusterSize = 4096
    static let maxClusterSize = 2 << 20

    let clusterSize: Int
    let capacityBytes: UInt64
    var clusterCount: Int { Int((capacityBytes + UInt64(clusterSize) - 1) / UInt64(clusterSize)) }
    var bitmapBytes: Int { (clusterCount + 7) / 8 }
    var bitmapOffset: Int64 { Int64(Self.roundUp(capacityBytes, Self.page)) }
    var headerOffset: Int64 { bitmapOffset + Int64(Self.roundUp(UInt64(bitmapBytes), Self.page)) }
    var fileSize: Int64 { headerOffset + Int64(Self.headerSize) }

    static func roundUp(_ value: UInt64, _ alignment: Int) -> UInt64 {
        (value + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment)
    }

    static func validClusterSize(_ size: Int) -> Bool {
        size >= minClusterSize && size <= maxClusterSize && size & (size - 1) == 0
    }

    func headerBytes() -> [UInt8] {
        var bytes = Self.magic
        BlockBytes.append(Self.version, to: &bytes)
        BlockBytes.append(UInt32(clusterSize), to: &bytes)
        BlockBytes.append(capacityBytes, to: &bytes)
        BlockBytes.append(UInt64(clusterCount), to: &bytes)
        BlockBytes.append(UInt64(bitmapOffset), to: &bytes)
        BlockBytes.append(UInt64(bitmapBytes), to: &bytes)
        BlockBytes.append(Self.fnv1a(bytes), to: &bytes)
        return bytes + [UInt8](repeating: 0, count: Self.headerSize - bytes.count)
    }

    /// Parses and cross-checks a header read from the last 4 KiB of a file of `fileSize` bytes.
    static func parse(_ bytes: [UInt8], fileSize: Int64) -> Result<CopyOnWriteLayout, BlockError> {
        func invalid(_ reason: String) -> Result<CopyOnWriteLayout, BlockError> { .failure(.overlayInvalid(reason: reason)) }
        guard bytes.count >= 52, Array(bytes[0..<8]) == magic else { return invalid("no overlay header (magic)") }
        guard BlockBytes.load(UInt32.self, bytes, at: 48) == fnv1a(Array(bytes[0..<48])) else {
            return invalid("header checksum mismatch")
        }
        let version = BlockBytes.load(UInt32.self, bytes, at: 8)
        guard version == Self.version else { return invalid("version \(version), expected \(Self.version)") }
        let clusterSize = Int(BlockBytes.load(UInt32.self, bytes, at: 12))
        guard validClusterSize(clusterSize) else { return invalid("cluster size \(clusterSize)") }
        let capacity = BlockBytes.load(UInt64.self, bytes, at: 16)
        guard capacity % UInt64(blockSectorSize) == 0, capacity <= UInt64(Int64.max / 2) else {
            return invalid("capacity \(capacity)")
        }
        let layout = CopyOnWriteLayout(clusterSize: clusterSize, capacityBytes: capacity)
        // Every derived field must agree, so a header that parses cannot point outside the file.
        guard BlockBytes.load(UInt64.self, bytes, at: 24) == UInt64(layout.clusterCount),
              BlockBytes.load(UInt64.self, bytes, at: 32) == UInt64(layout.bitmapOffset),
              BlockBytes.load(UInt64.self, bytes, at: 40) == UInt64(layout.bitmapBytes),
              layout.fileSize == fileSize
        else { return invalid("layout fields disagree with the capacity or the file size") }
        return .success(layout)
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt32 {
        bytes.reduce(UInt32(0x811C_9DC5)) { ($0 ^ UInt32($1)) &* 0x0100_0193 }
    }
}

/// Which clusters the overlay holds, and which bitmap bytes changed since they were last written.
struct ClusterBitmap {
    private(set) var bytes: [UInt8]
    /// Bitmap bytes set since the last `takeDirty`, as a byte range.
    private(set) var dirty: Range<Int>?

    init(clusterCount: Int) { bytes = [UInt8](repeating: 0, count: (clusterCount + 7) / 8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    func isSet(_ cluster: Int) -> Bool { bytes[cluster >> 3] & (1 << UInt8(cluster & 7)) != 0 }

    mutating func set(_ clusters: Range<Int>) {
        for cluster in clusters where !isSet(cluster) {
            bytes[cluster >> 3] |= 1 << UInt8(cluster & 7)
            let index = cluster >> 3
            dirty = dirty.map { min($0.lowerBound, index)..<max($0.upperBound, index + 1) } ?? index..<(index + 1)
        }
    }

    /// The dirty range widened to whole pages (inside the bitmap), and clears it.
    mutating func takeDirty(page: Int) -> Range<Int>? {
        guard let range = dirty else { return nil }
        dirty = nil
        let start = range.lowerBound / page * page
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        return start..<end
    }

    /// Puts a range back after a failed write, so the next flush retries it.
    mutating func markDirty(_ range: Range<Int>) {
        dirty = dirty.map { min($0.lowerBound, range.lowerBound)..<max($0.upperBound, range.upperBound) } ?? range
    }
}
