// virtio-blk feature bits and device configuration space (virtio 1.2, 5.2.3 and 5.2.4).

/// Feature bits the block device may offer, as masks for the 64-bit feature word.
public enum BlockFeature {
    public static let sizeMax: UInt64 = 1 << 1
    public static let segMax: UInt64 = 1 << 2
    public static let readOnly: UInt64 = 1 << 5
    public static let blockSize: UInt64 = 1 << 6
    public static let flush: UInt64 = 1 << 9
    public static let discard: UInt64 = 1 << 13
    public static let writeZeroes: UInt64 = 1 << 14
    /// VIRTIO_F_VERSION_1: a modern (non-legacy) device; required by virtio-mmio version 2.
    public static let version1: UInt64 = 1 << 32
}

/// The limits the device advertises, and therefore enforces: a request beyond them is IOERR.
public struct BlockConfig: Equatable, Sendable {
    /// Bytes up to and including `unused1`; later fields belong to features never offered here
    /// (secure erase, zoned), so the driver does not read them.
    public static let size = 60

    public var capacitySectors: UInt64
    public var readOnly: Bool
    /// Largest single data segment in bytes.
    public var sizeMax: UInt32
    /// Most data segments per request. Without indirect descriptors a chain holds at most the queue
    /// size, less the header and status descriptors: the default suits a 128-entry queue.
    public var segMax: UInt32
    /// Logical block size reported to the guest; sector numbers stay in 512-byte units regardless.
    public var blockSize: UInt32
    public var maxDiscardSectors: UInt32
    public var maxDiscardSegments: UInt32
    /// In 512-byte sectors: the granularity a file system frees in (4 KiB on ext4/xfs/tmpfs).
    public var discardSectorAlignment: UInt32
    public var maxWriteZeroesSectors: UInt32
    public var maxWriteZeroesSegments: UInt32
    /// Write-zeroes with the unmap flag punches a hole, so it can deallocate.
    public var writeZeroesMayUnmap: Bool

    public init(
        capacitySectors: UInt64, readOnly: Bool, sizeMax: UInt32 = 1 << 20, segMax: UInt32 = 126,
        blockSize: UInt32 = 512, maxDiscardSectors: UInt32 = 1 << 22, maxDiscardSegments: UInt32 = 16,
        discardSectorAlignment: UInt32 = 8, maxWriteZeroesSectors: UInt32 = 1 << 22,
        maxWriteZeroesSegments: UInt32 = 16, writeZeroesMayUnmap: Bool = true
    ) {
        self.capacitySectors = capacitySectors
        self.readOnly = readOnly
        self.sizeMax = sizeMax
        self.segMax = segMax
        self.blockSize = blockSize
        self.maxDiscardSectors = maxDiscardSectors
        self.maxDiscardSegments = maxDiscardSegments
        self.discardSectorAlignment = discardSectorAlignment
        self.maxWriteZeroesSectors = maxWriteZeroesSectors
        self.maxWriteZeroesSegments = maxWriteZeroesSegments
        self.writeZeroesMayUnmap = writeZeroesMayUnmap
    }

    /// The configuration that matches an opened backend.
    public init(backend: any BlockBackend) {
        self.init(capacitySectors: backend.capacitySectors, readOnly: backend.readOnly)
    }

    /// Largest IN/OUT transfer a conforming driver can build: seg_max segments of size_max bytes.
    /// Bounds the buffer a read allocates, whatever size of writable area the guest offers.
    public var maxTransferBytes: Int { Int(segMax) * Int(sizeMax) }

    /// Features offered. A read-only disk offers RO and not DISCARD/WRITE_ZEROES, which would only
    /// ever fail on it.
    public var features: UInt64 {
        var features = BlockFeature.version1 | BlockFeature.sizeMax | BlockFeature.segMax
            | BlockFeature.blockSize | BlockFeature.flush
        if readOnly {
            features |= BlockFeature.readOnly
        } else {
            features |= BlockFeature.discard | BlockFeature.writeZeroes
        }
        return features
    }

    /// The configuration space, little-endian, `size` bytes. Geometry and topology stay zero (no
    /// GEOMETRY/TOPOLOGY feature); `writeback` stays zero because CONFIG_WCE is not offered and a
    /// driver then takes FLUSH as meaning a write-back cache.
    public func configBytes() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        BlockBytes.store(capacitySectors, in: &bytes, at: 0)
        BlockBytes.store(sizeMax, in: &bytes, at: 8)
        BlockBytes.store(segMax, in: &bytes, at: 12)
        // 16..<20: geometry (cylinders u16, heads u8, sectors u8).
        BlockBytes.store(blockSize, in: &bytes, at: 20)
        // 24..<32: topology; 32: writeback; 33: unused0.
        BlockBytes.store(UInt16(1), in: &bytes, at: 34)  // num_queues; only read with MQ
        BlockBytes.store(maxDiscardSectors, in: &bytes, at: 36)
        BlockBytes.store(maxDiscardSegments, in: &bytes, at: 40)
        BlockBytes.store(discardSectorAlignment, in: &bytes, at: 44)
        BlockBytes.store(maxWriteZeroesSectors, in: &bytes, at: 48)
        BlockBytes.store(maxWriteZeroesSegments, in: &bytes, at: 52)
        bytes[56] = writeZeroesMayUnmap ? 1 : 0
        return bytes
    }
}
