// A scripted virtio driver over real anonymous guest memory: writes descriptor tables and rings
// the way a guest driver would, so the device side is tested against the real byte layout.
import GuestMemory
import Synchronization
import VirtioDevices

struct TestDriver {
    static let memorySize: UInt64 = 1 << 20
    let memory: GuestMemoryMap
    let size: UInt16
    var desc = GuestAddress(0x1000)
    var avail = GuestAddress(0x4000)
    var used = GuestAddress(0x6000)
    var availIdx: UInt16 = 0

    init(size: UInt16 = 8, memory: GuestMemoryMap? = nil, base: UInt64 = 0) throws {
        self.memory = try memory ?? GuestMemoryMap.anonymous(size: Self.memorySize)
        self.size = size
        desc = GuestAddress(0x1000 + base)
        avail = GuestAddress(0x4000 + base)
        used = GuestAddress(0x6000 + base)
    }

    var config: VirtqueueConfig {
        VirtqueueConfig(size: size, descriptorTable: desc, availableRing: avail, usedRing: used, ready: true)
    }

    func queue(features: UInt64 = VirtioFeature.indirectDescriptors) throws -> Virtqueue {
        try Virtqueue(memory: memory, config: config, maxSize: 256, features: features)
    }

    /// Writes descriptor `index` of `table` (the ring's table by default).
    func setDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16 = 0, next: UInt16 = 0,
                       table: GuestAddress? = nil) throws {
        let at = GuestAddress((table ?? desc).raw + 16 * UInt64(index))
        try memory.store(address, at: at)
        try memory.store(length, at: GuestAddress(at.raw + 8))
        try memory.store(flags, at: GuestAddress(at.raw + 12))
        try memory.store(next, at: GuestAddress(at.raw + 14))
    }

    /// Puts `head` in the next avail slot and publishes it (release store of avail idx).
    mutating func publish(_ head: UInt16) throws {
        try memory.store(head, at: GuestAddress(avail.raw + 4 + 2 * UInt64(availIdx % size)))
        availIdx &+= 1
        try memory.atomicStoreUInt16(availIdx, at: GuestAddress(avail.raw + 2))
    }

    func setAvailIdx(_ value: UInt16) throws { try memory.atomicStoreUInt16(value, at: GuestAddress(avail.raw + 2)) }
    func setAvailFlags(_ value: UInt16) throws { try memory.store(value, at: avail) }
    func setUsedEvent(_ value: UInt16) throws { try memory.store(value, at: GuestAddress(avail.raw + 4 + 2 * UInt64(size))) }
    func availEvent() throws -> UInt16 { try memory.load(UInt16.self, at: GuestAddress(used.raw + 4 + 8 * UInt64(size))) }
    func usedFlags() throws -> UInt16 { try memory.load(UInt16.self, at: used) }
    func usedIdx() throws -> UInt16 { try memory.atomicLoadUInt16(at: GuestAddress(used.raw + 2)) }
    func usedElement(_ slot: UInt16) throws -> (id: UInt32, length: UInt32) {
        let at = used.raw + 4 + 8 * UInt64(slot % size)
        return (try memory.load(UInt32.self, at: GuestAddress(at)), try memory.load(UInt32.self, at: GuestAddress(at + 4)))
    }
}

func range(_ start: UInt64, _ length: UInt64) -> GuestRange {
    GuestRange(start: GuestAddress(start), length: length)!
}

/// Counts interrupt-line raises.
final class Counter: Sendable {
    let value = Mutex(0)
    func bump() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

/// A Linux-like MMIO driver sequence over a transport.
struct MMIODriver {
    let transport: VirtioMMIOTransport

    func r(_ offset: UInt64) -> UInt32 { UInt32(transport.read(offset: offset, size: 4)) }
    func w(_ offset: UInt64, _ value: UInt32) { transport.write(offset: offset, size: 4, value: UInt64(value)) }

    func features() -> UInt64 {
        w(0x14, 0); let low = UInt64(r(0x10))
        w(0x14, 1); let high = UInt64(r(0x10))
        return low | high << 32
    }

    func setDriverFeatures(_ f: UInt64) {
        w(0x24, 0); w(0x20, UInt32(truncatingIfNeeded: f))
        w(0x24, 1); w(0x20, UInt32(truncatingIfNeeded: f >> 32))
    }

    func setupQueue(_ index: UInt32, _ driver: TestDriver) {
        w(0x30, index)
        w(0x38, UInt32(driver.size))
        w(0x80, UInt32(truncatingIfNeeded: driver.desc.raw)); w(0x84, UInt32(driver.desc.raw >> 32))
        w(0x90, UInt32(truncatingIfNeeded: driver.avail.raw)); w(0x94, UInt32(driver.avail.raw >> 32))
        w(0xa0, UInt32(truncatingIfNeeded: driver.used.raw)); w(0xa4, UInt32(driver.used.raw >> 32))
        w(0x44, 1)
    }

    /// ACKNOWLEDGE, DRIVER, features, FEATURES_OK (checked), queues, DRIVER_OK. Returns whether
    /// FEATURES_OK stuck.
    @discardableResult
    func bringUp(features: UInt64, queues: [TestDriver]) -> Bool {
        w(0x70, 0)
        w(0x70, 1)
        w(0x70, 1 | 2)
        setDriverFeatures(features)
        w(0x70, 1 | 2 | 8)
        guard r(0x70) & 8 != 0 else { return false }
        for (i, q) in queues.enumerated() { setupQueue(UInt32(i), q) }
        w(0x70, 1 | 2 | 8 | 4)
        return true
    }
}
