// What virtio-blk needs from storage, so the request processor serves a raw file (BlockFileBackend)
// and a copy-on-write overlay over a read-only base (CopyOnWriteBlockBackend) alike. Sector numbers
// are 512-byte units; every entry point returns a Result, and an error becomes IOERR for the guest.

public protocol BlockBackend: AnyObject, Sendable {
    /// Whole 512-byte sectors the guest can address.
    var capacitySectors: UInt64 { get }
    var readOnly: Bool { get }
    /// The GET_ID answer: exactly `BlockFileBackend.idSize` (20) bytes.
    var id: [UInt8] { get }

    /// Reads `count` bytes (a multiple of 512) from `sector`.
    func read(sector: UInt64, count: Int) -> Result<[UInt8], BlockError>
    /// Writes `bytes` (a multiple of 512) at `sector`; stable only after `flush`.
    func write(sector: UInt64, bytes: [UInt8]) -> Result<Void, BlockError>
    /// Every completed write is on stable storage when this returns success.
    func flush() -> Result<Void, BlockError>
    /// A hint that the ranges are unused (virtio 1.2, 5.2.6.2: the device MAY deallocate).
    func discard(segments: [BlockDiscardSegment]) -> Result<Void, BlockError>
    /// The ranges read as zeros afterwards.
    func writeZeroes(segments: [BlockDiscardSegment]) -> Result<Void, BlockError>
    /// Flushes and releases the storage; later requests fail with `.closed`. Closing twice is fine.
    @discardableResult func close() -> Result<Void, BlockError>
}

extension BlockFileBackend: BlockBackend {}

/// The GET_ID bytes for a serial: UTF-8 cut to 20 bytes, NUL-padded to 20. A cut in the middle of a
/// character is acceptable because the guest sees the ID as bytes.
func blockSerialID(_ serial: String) -> [UInt8] {
    let bytes = Array(serial.utf8.prefix(BlockFileBackend.idSize))
    return bytes + [UInt8](repeating: 0, count: BlockFileBackend.idSize - bytes.count)
}
