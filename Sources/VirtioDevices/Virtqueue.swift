// A split virtqueue (virtio 1.2, 2.7) over guest memory, seen from the device side.
//
// The guest owns the rings and may change them at any time, so every value is copied out of guest
// memory first and validated on the copy; nothing here holds a reference into guest RAM. The ring
// indices shared with the driver use acquire loads / release stores (2.7.13, 2.7.8), and the walk
// over a descriptor chain is bounded by the size of the table it walks, so a malicious chain can
// cost at most O(queue size) work per pop.
import GuestMemory
import Synchronization

/// The driver-written configuration of one queue, as the transport collected it.
public struct VirtqueueConfig: Sendable, Equatable {
    public var size: UInt16
    public var descriptorTable: GuestAddress
    public var availableRing: GuestAddress
    public var usedRing: GuestAddress
    public var ready: Bool

    public init(
        size: UInt16, descriptorTable: GuestAddress, availableRing: GuestAddress,
        usedRing: GuestAddress, ready: Bool
    ) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availableRing = availableRing
        self.usedRing = usedRing
        self.ready = ready
    }
}

/// One available descriptor chain, copied out of guest memory and validated. The ranges are
/// guest-physical: they are inside guest RAM at the time of the pop.
public struct DescriptorChain: Sendable, Equatable {
    /// The head index, to hand back with `Virtqueue.addUsed(head:length:)`.
    public let head: UInt16
    /// Device-readable buffers, in chain order.
    public let readable: [GuestRange]
    /// Device-writable buffers, in chain order (all after the readable ones).
    public let writable: [GuestRange]

    public init(head: UInt16, readable: [GuestRange], writable: [GuestRange]) {
        self.head = head
        self.readable = readable
        self.writable = writable
    }

    /// Total readable bytes; fits UInt32 because the pop checked the chain's total length.
    public var readableLength: UInt64 { readable.reduce(0) { $0 + $1.length } }
    public var writableLength: UInt64 { writable.reduce(0) { $0 + $1.length } }
}

/// Feature bits the queue implementation itself acts on (virtio 1.2, 6).
public enum VirtioFeature {
    public static let indirectDescriptors: UInt64 = 1 << 28  // VIRTIO_F_INDIRECT_DESC
    public static let eventIndex: UInt64 = 1 << 29           // VIRTIO_F_EVENT_IDX
    public static let version1: UInt64 = 1 << 32             // VIRTIO_F_VERSION_1
}

public struct Virtqueue: Sendable {
    /// The largest queue size the split layout allows (2.7: at most 32768).
    public static let maximumSize: UInt16 = 32768

    // Descriptor flags (2.7.5).
    static let flagNext: UInt16 = 1
    static let flagWrite: UInt16 = 2
    static let flagIndirect: UInt16 = 4
    // VIRTQ_AVAIL_F_NO_INTERRUPT and VIRTQ_USED_F_NO_NOTIFY (2.7.6, 2.7.8).
    static let availNoInterrupt: UInt16 = 1
    static let usedNoNotify: UInt16 = 1

    public let memory: GuestMemoryMap
    public let config: VirtqueueConfig
    public let indirectDescriptors: Bool
    public let eventIndex: Bool
    /// The next avail-ring slot the device will consume (free-running, wraps at 2^16).
    public private(set) var lastAvailIndex: UInt16 = 0
    /// The next used-ring slot the device will fill, also the used idx last published.
    public private(set) var nextUsedIndex: UInt16 = 0
    /// The used idx at the last interrupt decision (EVENT_IDX bookkeeping, 2.7.10).
    var signalledUsed: UInt16?
    /// Set after the first guest error: the queue is dead until the device is reset, so the
    /// same malformed ring is not parsed again on every notification.
    public private(set) var isBroken = false

    public var size: UInt16 { config.size }
    public var isReady: Bool { config.ready }

    /// A queue the driver did not enable: pops return nil. Lets devices index queues by number
    /// even when the driver uses only some of them (e.g. no control queue).
    public init(notReady memory: GuestMemoryMap) {
        self.memory = memory
        self.config = VirtqueueConfig(
            size: 0, descriptorTable: GuestAddress(0), availableRing: GuestAddress(0),
            usedRing: GuestAddress(0), ready: false)
        self.indirectDescriptors = false
        self.eventIndex = false
    }

    /// Validates the driver's configuration for activation: size a power of two ≤ `maxSize`,
    /// alignments 16/2/4 and each ring entirely inside guest RAM (2.7, "Virtqueue Part Alignment").
    public init(
        memory: GuestMemoryMap, config: VirtqueueConfig, maxSize: UInt16, features: UInt64
    ) throws(VirtqueueError) {
        guard config.ready else { throw .queueNotReady }
        let size = config.size
        let limit = min(maxSize, Self.maximumSize)
        guard size != 0, size & (size - 1) == 0, size <= limit else {
            throw .invalidSize(size, max: limit)
        }
        let n = UInt64(size)
        let rings: [(VirtqueueRing, GuestAddress, UInt64, UInt64)] = [
            (.descriptorTable, config.descriptorTable, 16, 16 * n),
            // flags, idx, ring[n], used_event: the trailing event field is always laid out
            // (drivers allocate it), so it is validated whether or not EVENT_IDX is negotiated.
            (.availableRing, config.availableRing, 2, 6 + 2 * n),
            (.usedRing, config.usedRing, 4, 6 + 8 * n),
        ]
        for (ring, address, alignment, length) in rings {
            guard address.isAligned(to: alignment) else { throw .misalignedRing(ring, address: address) }
            guard let range = GuestRange(start: address, length: length), memory.isValid(range) else {
                throw .ringOutsideMemory(ring, address: address, length: length)
            }
        }
        self.memory = memory
        self.config = config
        self.indirectDescriptors = features & VirtioFeature.indirectDescriptors != 0
        self.eventIndex = features & VirtioFeature.eventIndex != 0
    }

    // Offsets inside the rings. Sizes were validated at init, so these cannot overflow the
    // (already validated) ring ranges; `adding` still guards the arithmetic.
    var availIdxAddress: GuestAddress? { config.availableRing.adding(2) }
    func availSlotAddress(_ slot: UInt16) -> GuestAddress? {
        config.availableRing.adding(4 + 2 * UInt64(slot % size))
    }
    var usedEventAddress: GuestAddress? { config.availableRing.adding(4 + 2 * UInt64(size)) }
    var usedIdxAddress: GuestAddress? { config.usedRing.adding(2) }
    func usedSlotAddress(_ slot: UInt16) -> GuestAddress? {
        config.usedRing.adding(4 + 8 * UInt64(slot % size))
    }
    var availEventAddress: GuestAddress? { config.usedRing.adding(4 + 8 * UInt64(size)) }

    /// Marks the queue broken when `body` reports a guest error, then rethrows it.
    mutating func guarded<T>(_ body: (inout Self) throws(VirtqueueError) -> T) throws(VirtqueueError) -> T {
        do {
            return try body(&self)
        } catch {
            isBroken = true
            throw error
        }
    }

    static func address(_ a: GuestAddress?) throws(GuestMemoryError) -> GuestAddress {
        // Unreachable after the ring validation in init, but a nil must not become a trap.
        guard let a else { throw .invalidRange(start: GuestAddress(0), length: 0) }
        return a
    }

    /// Runs guest-memory accesses, reporting their failure as a queue error.
    static func accessing<T>(_ body: () throws(GuestMemoryError) -> T) throws(VirtqueueError) -> T {
        do { return try body() } catch { throw .memory(error) }
    }

    /// The driver's avail idx (acquire: ring entries it published are visible after this load).
    public func availableIndex() throws(VirtqueueError) -> UInt16 {
        try Self.accessing { () throws(GuestMemoryError) in
            try memory.atomicLoadUInt16(at: Self.address(availIdxAddress))
        }
    }

    /// The next available chain, or nil when the driver has published nothing new (or the queue
    /// is not ready / already broken). A guest error marks the queue broken.
    public mutating func popAvailable() throws(VirtqueueError) -> DescriptorChain? {
        guard config.ready, !isBroken else { return nil }
        return try guarded { (queue) throws(VirtqueueError) -> DescriptorChain? in
            let availIdx = try queue.availableIndex()
            let pending = availIdx &- queue.lastAvailIndex  // wrapping, as 2.7.6 defines idx
            guard pending <= queue.size else {
                throw .availIndexAhead(availIndex: availIdx, lastAvail: queue.lastAvailIndex, size: queue.size)
            }
            guard pending != 0 else { return nil }
            let slot = queue.availSlotAddress(queue.lastAvailIndex)
            let head = try Self.accessing { () throws(GuestMemoryError) in
                try queue.memory.load(UInt16.self, at: Self.address(slot))
            }
            let chain = try queue.walkChain(head: head)
            queue.lastAvailIndex &+= 1
            return chain
        }
    }

    /// One 16-byte descriptor copied out of guest memory (2.7.5: le64 addr, le32 len, le16 flags, le16 next).
    private struct Descriptor {
        var address: GuestAddress
        var length: UInt32
        var flags: UInt16
        var next: UInt16
    }

    private func readDescriptor(table: GuestAddress, index: UInt16) throws(VirtqueueError) -> Descriptor {
        guard let at = table.adding(16 * UInt64(index)) else {
            throw .memory(.invalidRange(start: table, length: 16 * UInt64(index)))
        }
        let b: [UInt8]
        do { b = try memory.read(count: 16, at: at) } catch { throw .memory(error) }
        func le(_ range: Range<Int>) -> UInt64 {
            range.reversed().reduce(0) { ($0 << 8) | UInt64(b[$1]) }
        }
        return Descriptor(
            address: GuestAddress(le(0..<8)), length: UInt32(truncatingIfNeeded: le(8..<12)),
            flags: UInt16(truncatingIfNeeded: le(12..<14)), next: UInt16(truncatingIfNeeded: le(14..<16)))
    }

    /// Walks a chain from `head`, following at most one indirect table. Each table is walked at
    /// most `entries` times, so a loop in the `next` links ends in `.descriptorChainTooLong`.
    private func walkChain(head: UInt16) throws(VirtqueueError) -> DescriptorChain {
        var readable: [GuestRange] = []
        var writable: [GuestRange] = []
        var total: UInt32 = 0
        var table = config.descriptorTable
        var entries = UInt32(size)
        var inIndirect = false
        var visited: UInt32 = 0
        var index = head
        while true {
            guard UInt32(index) < entries else {
                throw .descriptorIndexOutOfRange(index: index, tableSize: entries)
            }
            visited += 1
            guard visited <= entries else { throw .descriptorChainTooLong(limit: entries) }
            let d = try readDescriptor(table: table, index: index)

            if d.flags & Self.flagIndirect != 0 {
                guard indirectDescriptors else { throw .indirectNotNegotiated }
                guard !inIndirect else { throw .nestedIndirect }
                guard d.flags & Self.flagNext == 0 else { throw .indirectWithNext }
                // 2.7.5.3.1: a chain may not be longer than the queue size, so neither may a table.
                guard d.length != 0, d.length % 16 == 0, d.length / 16 <= UInt32(size) else {
                    throw .invalidIndirectTableLength(d.length)
                }
                guard let range = GuestRange(start: d.address, length: UInt64(d.length)), memory.isValid(range) else {
                    throw .indirectTableOutsideMemory(address: d.address, length: d.length)
                }
                table = d.address
                entries = d.length / 16
                inIndirect = true
                visited = 0
                index = 0
                continue
            }

            // Zero-length buffers carry no data; they are skipped (GuestRange has no empty value)
            // but still take part in the readable-before-writable order check.
            let isWrite = d.flags & Self.flagWrite != 0
            if !isWrite && !writable.isEmpty { throw .readableAfterWritable }
            if d.length != 0 {
                guard let range = GuestRange(start: d.address, length: UInt64(d.length)), memory.isValid(range) else {
                    throw .bufferOutsideMemory(address: d.address, length: d.length)
                }
                let (sum, overflow) = total.addingReportingOverflow(d.length)
                guard !overflow else { throw .totalLengthOverflow }
                total = sum
                if isWrite { writable.append(range) } else { readable.append(range) }
            }
            guard d.flags & Self.flagNext != 0 else { break }
            index = d.next
        }
        return DescriptorChain(head: head, readable: readable, writable: writable)
    }

    /// Returns a chain to the driver: writes the used element, then publishes the new used idx
    /// with release ordering so the driver never sees the idx before the element (2.7.8).
    public mutating func addUsed(head: UInt16, length: UInt32) throws(VirtqueueError) {
        guard config.ready else { throw .queueNotReady }
        guard head < size else { throw .usedHeadOutOfRange(head, size: size) }
        try guarded { (queue) throws(VirtqueueError) in
            let next = queue.nextUsedIndex &+ 1
            let slot = queue.usedSlotAddress(queue.nextUsedIndex)
            let idx = queue.usedIdxAddress
            let memory = queue.memory
            try Self.accessing { () throws(GuestMemoryError) in
                let element = try Self.address(slot)
                try memory.store(UInt32(head), at: element)
                try memory.store(length, at: Self.address(element.adding(4)))
                try memory.atomicStoreUInt16(next, at: Self.address(idx))
            }
            queue.nextUsedIndex = next
        }
    }

    /// Returns several chains at once and publishes the used idx once, after all elements: a
    /// virtio-net packet spread over mergeable buffers must never be visible half-returned (the
    /// driver reads num_buffers from the first and takes that many entries, 5.1.6.4).
    public mutating func addUsed(_ elements: [(head: UInt16, length: UInt32)]) throws(VirtqueueError) {
        guard config.ready else { throw .queueNotReady }
        guard elements.count <= Int(size) else { throw .usedHeadOutOfRange(UInt16(truncatingIfNeeded: elements.count), size: size) }
        for element in elements where element.head >= size { throw .usedHeadOutOfRange(element.head, size: size) }
        guard !elements.isEmpty else { return }
        try guarded { (queue) throws(VirtqueueError) in
            var next = queue.nextUsedIndex
            let memory = queue.memory
            for element in elements {
                let slot = queue.usedSlotAddress(next)
                try Self.accessing { () throws(GuestMemoryError) in
                    let at = try Self.address(slot)
                    try memory.store(UInt32(element.head), at: at)
                    try memory.store(element.length, at: Self.address(at.adding(4)))
                }
                next &+= 1
            }
            let idx = queue.usedIdxAddress
            try Self.accessing { () throws(GuestMemoryError) in try memory.atomicStoreUInt16(next, at: Self.address(idx)) }
            queue.nextUsedIndex = next
        }
    }
}
