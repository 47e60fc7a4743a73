// The device side's cost per request, without KVM: a scripted driver writes descriptor chains into
// anonymous guest memory exactly as a guest would, kicks the device through its virtio-mmio
// transport (the call the event loop makes on an ioeventfd), and reads the used ring back. What is
// measured is the VMM's own work per request: ring and chain validation, the copy between guest
// memory and the backend, the used-ring update and the notification decision.
import Glibc
import GuestMemory
import VirtioDevices

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A guest-driver view of one split queue in guest memory (descriptor table, avail, used).
struct RingDriver {
    let memory: GuestMemoryMap
    let size: UInt16
    let desc: GuestAddress
    let avail: GuestAddress
    let used: GuestAddress
    var availIdx: UInt16 = 0

    init(memory: GuestMemoryMap, size: UInt16, base: UInt64) {
        self.memory = memory
        self.size = size
        desc = GuestAddress(base)
        avail = GuestAddress(base + 16 * UInt64(size))
        used = GuestAddress((base + 16 * UInt64(size) + 6 + 2 * UInt64(size) + 4095) & ~4095)
    }

    func setDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) throws {
        let at = desc.raw + 16 * UInt64(index)
        try memory.store(address, at: GuestAddress(at))
        try memory.store(length, at: GuestAddress(at + 8))
        try memory.store(flags, at: GuestAddress(at + 12))
        try memory.store(next, at: GuestAddress(at + 14))
    }

    mutating func publish(_ head: UInt16) throws {
        try memory.store(head, at: GuestAddress(avail.raw + 4 + 2 * UInt64(availIdx % size)))
        availIdx &+= 1
        try memory.atomicStoreUInt16(availIdx, at: GuestAddress(avail.raw + 2))
    }

    func usedIdx() throws -> UInt16 { try memory.atomicLoadUInt16(at: GuestAddress(used.raw + 2)) }
}

/// Brings a transport up the way Linux's virtio_mmio driver does (features, one queue, DRIVER_OK).
func bringUp(_ transport: VirtioMMIOTransport, features: UInt64, queues: [RingDriver]) throws {
    func w(_ offset: UInt64, _ value: UInt64) { transport.write(offset: offset, size: 4, value: value & 0xffff_ffff) }
    w(0x70, 0); w(0x70, 1); w(0x70, 3)
    w(0x24, 0); w(0x20, features); w(0x24, 1); w(0x20, features >> 32)
    w(0x70, 0xb)
    guard transport.read(offset: 0x70, size: 4) & 8 != 0 else { throw BenchError("FEATURES_OK refused") }
    for (i, q) in queues.enumerated() {
        w(0x30, UInt64(i)); w(0x38, UInt64(q.size))
        w(0x80, q.desc.raw); w(0x84, q.desc.raw >> 32)
        w(0x90, q.avail.raw); w(0x94, q.avail.raw >> 32)
        w(0xa0, q.used.raw); w(0xa4, q.used.raw >> 32)
        w(0x44, 1)
    }
    w(0x70, 0xf)
    guard transport.read(offset: 0x70, size: 4) == 0xf else { throw BenchError("device not live after DRIVER_OK") }
}

/// virtio-blk 4 KiB reads from a file in /dev/shm (page cache, so the figure is the VMM's cost and
/// not the disk's), `batch` requests per kick.
public final class BlockReadBench {
    static let memorySize: UInt64 = 64 << 20
    static let diskSize = 64 << 20
    let memory: GuestMemoryMap
    let transport: VirtioMMIOTransport
    var ring: RingDriver
    let path: String
    var sector: UInt64 = 0
    let batch: Int

    public init(batch: Int = 1) throws {
        precondition(batch >= 1 && batch <= 64, "batch: 1...64")
        self.batch = batch
        memory = try GuestMemoryMap.anonymous(size: Self.memorySize)
        path = "/dev/shm/swift-vmm-bench-\(getpid())-\(batch).img"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0, ftruncate(fd, off_t(Self.diskSize)) == 0 else { throw BenchError("cannot create \(path)") }
        // Touch every page so reads come from the page cache, not from holes.
        var page = [UInt8](repeating: 0x5A, count: 1 << 20)
        for offset in stride(from: 0, to: Self.diskSize, by: page.count) {
            let n = page.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n == page.count else { throw BenchError("cannot fill \(path)") }
        }
        page.removeAll()
        close(fd)
        let backend = try BlockFileBackend(path: path)
        transport = VirtioMMIOTransport(device: VirtioBlock(backend: backend), memory: memory) {}
        ring = RingDriver(memory: memory, size: 256, base: 0x10000)
        try bringUp(transport, features: VirtioFeature.version1, queues: [ring])
        // Per slot i (3 descriptors): header at 0x100000 + 16 i, data at 0x200000 + 4 KiB i, status byte.
        for i in 0..<64 {
            let d = UInt16(3 * i)
            try ring.setDescriptor(d, address: 0x100000 + 16 * UInt64(i), length: 16, flags: 1, next: d + 1)
            try ring.setDescriptor(d + 1, address: 0x200000 + 4096 * UInt64(i), length: 4096, flags: 3, next: d + 2)
            try ring.setDescriptor(d + 2, address: 0x180000 + UInt64(i), length: 1, flags: 2, next: 0)
        }
    }

    deinit { unlink(path) }

    /// Issues `count` rounds of `batch` reads (each a different sector) and waits for them.
    public func run(rounds count: Int) throws {
        for _ in 0..<count {
            for i in 0..<batch {
                try memory.store(UInt32(0), at: GuestAddress(0x100000 + 16 * UInt64(i)))   // VIRTIO_BLK_T_IN
                try memory.store(sector, at: GuestAddress(0x100000 + 16 * UInt64(i) + 8))
                sector = (sector + 8) % UInt64(Self.diskSize / 512)
                try ring.publish(UInt16(3 * i))
            }
            transport.notify(queue: 0)
            guard try ring.usedIdx() == ring.availIdx else { throw BenchError("device did not complete the requests") }
        }
    }
}

/// Times `body(rounds)` and returns nanoseconds per round, best of `repeats`.
public func bestNanosecondsPerRound(rounds: Int, repeats: Int = 5, _ body: (Int) throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<repeats {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        try body(rounds)
        clock_gettime(CLOCK_MONOTONIC, &end)
        let ns = Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
        best = min(best, ns / Double(rounds))
    }
    return best
}
