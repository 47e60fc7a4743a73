// Every way a guest can get a split virtqueue wrong, as a typed error. None of these is fatal
// to the VMM: the transport turns them into DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2) and goes on.
import GuestMemory

/// The three parts of a split virtqueue (virtio 1.2, 2.7).
public enum VirtqueueRing: String, Sendable, Equatable {
    case descriptorTable, availableRing, usedRing
}

public enum VirtqueueError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The driver never set QueueReady (or the queue was reset) but the device was asked to use it.
    case queueNotReady
    /// Queue size 0, not a power of two, or above the device's maximum (2.7: "Queue Size ... power of 2").
    case invalidSize(UInt16, max: UInt16)
    /// A ring address violating the alignment table of 2.7 (16 / 2 / 4).
    case misalignedRing(VirtqueueRing, address: GuestAddress)
    /// A ring that is not entirely backed by guest RAM (or whose end wraps 2^64).
    case ringOutsideMemory(VirtqueueRing, address: GuestAddress, length: UInt64)
    /// The avail index moved more than `size` entries past what the device consumed: the driver
    /// would be overwriting entries the device has not read yet.
    case availIndexAhead(availIndex: UInt16, lastAvail: UInt16, size: UInt16)
    /// A head or `next` index beyond the table it indexes (the ring or an indirect table).
    case descriptorIndexOutOfRange(index: UInt16, tableSize: UInt32)
    /// The walk visited more descriptors than the table holds: a loop in the `next` links.
    case descriptorChainTooLong(limit: UInt32)
    /// VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated (2.7.5.3.1).
    case indirectNotNegotiated
    /// VIRTQ_DESC_F_INDIRECT inside an indirect table (2.7.5.3.1: one table per descriptor).
    case nestedIndirect
    /// Both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT set (2.7.5.3.1).
    case indirectWithNext
    /// Indirect table length 0, not a multiple of 16, or holding more entries than the queue size.
    case invalidIndirectTableLength(UInt32)
    /// An indirect table not entirely inside guest RAM.
    case indirectTableOutsideMemory(address: GuestAddress, length: UInt32)
    /// A buffer descriptor not entirely inside guest RAM.
    case bufferOutsideMemory(address: GuestAddress, length: UInt32)
    /// The sum of the buffer lengths in one chain does not fit the 32-bit used-ring length.
    case totalLengthOverflow
    /// A device-readable descriptor after a device-writable one (2.7.4.2: readable come first).
    case readableAfterWritable
    /// The device tried to return a head index that cannot be in the descriptor table (a device bug).
    case usedHeadOutOfRange(UInt16, size: UInt16)
    /// A guest-memory access failed where the queue had been validated (e.g. a ring index
    /// straddling two regions for an atomic access).
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case .queueNotReady: "queue not ready"
        case let .invalidSize(size, max): "queue size \(size) is not a power of two in 1...\(max)"
        case let .misalignedRing(ring, address): "\(ring.rawValue) at \(address) is misaligned"
        case let .ringOutsideMemory(ring, address, length):
            "\(ring.rawValue) at \(address) (+\(length)) is not inside guest RAM"
        case let .availIndexAhead(availIndex, lastAvail, size):
            "avail index \(availIndex) is more than \(size) ahead of \(lastAvail)"
        case let .descriptorIndexOutOfRange(index, tableSize):
            "descriptor index \(index) outside a table of \(tableSize)"
        case let .descriptorChainTooLong(limit): "descriptor chain longer than \(limit) (loop?)"
        case .indirectNotNegotiated: "indirect descriptor without VIRTIO_F_INDIRECT_DESC"
        case .nestedIndirect: "indirect descriptor inside an indirect table"
        case .indirectWithNext: "indirect descriptor with VIRTQ_DESC_F_NEXT"
        case let .invalidIndirectTableLength(length): "invalid indirect table length \(length)"
        case let .indirectTableOutsideMemory(address, length):
            "indirect table at \(address) (+\(length)) is not inside guest RAM"
        case let .bufferOutsideMemory(address, length):
            "buffer at \(address) (+\(length)) is not inside guest RAM"
        case .totalLengthOverflow: "descriptor chain total length overflows 32 bits"
        case .readableAfterWritable: "device-readable descriptor after a device-writable one"
        case let .usedHeadOutOfRange(head, size): "used head \(head) outside a queue of \(size)"
        case let .memory(error): "guest memory: \(error)"
        }
    }
}
