// virtio-net's device-side cost per 1500-byte frame, without KVM or a tap: a backend that hands out
// and swallows frames in memory, so what is measured is the device's own work (chain walk, copy
// between guest memory and the frame buffer, header checks, used ring) in each direction.
import GuestMemory
import Synchronization
import VirtioDevices

/// A backend with a counter of frames waiting to be received and a count of frames sent.
final class MemoryNetBackend: NetBackend {
    static let frameLength = 12 + 1500
    let pending = Mutex(0)
    let sent = Mutex(0)
    var transmitOffloads: NetOffloads { [] }
    var receiveOffloads: NetOffloads { [] }

    func receive(into buffer: inout [UInt8]) -> NetReceiveResult {
        let take = pending.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        guard take else { return .empty }
        for i in 0..<12 { buffer[i] = 0 }   // a plain frame: no offload flags
        return .frame(length: Self.frameLength)
    }

    func send(_ frame: [UInt8]) -> Result<Void, NetBackendError> {
        sent.withLock { $0 += 1 }
        return .success(())
    }

    func setReceiveOffloads(_ offloads: NetOffloads) -> Result<Void, NetBackendError> { .success(()) }
}

public final class NetFrameBench {
    public enum Direction: Sendable { case transmit, receive }
    let memory: GuestMemoryMap
    let transport: VirtioMMIOTransport
    let device: VirtioNet
    let backend = MemoryNetBackend()
    var rx: RingDriver
    var tx: RingDriver
    let batch: Int
    let direction: Direction

    public init(direction: Direction, batch: Int = 1) throws {
        precondition(batch >= 1 && batch <= 64, "batch: 1...64")
        self.batch = batch
        self.direction = direction
        memory = try GuestMemoryMap.anonymous(size: 16 << 20)
        device = VirtioNet(backend: backend, mac: MACAddress("52:54:00:00:00:01")!)
        transport = VirtioMMIOTransport(device: device, memory: memory) {}
        rx = RingDriver(memory: memory, size: 256, base: 0x10000)
        tx = RingDriver(memory: memory, size: 256, base: 0x20000)
        try bringUp(transport, features: VirtioFeature.version1, queues: [rx, tx])
        // Slot i: an RX buffer of 2 KiB at 0x100000 + 2 KiB i; a TX frame (header + 1500 bytes) at
        // 0x200000 + 2 KiB i.
        for i in 0..<64 {
            try rx.setDescriptor(UInt16(i), address: 0x100000 + 2048 * UInt64(i), length: 2048, flags: 2, next: 0)
            try tx.setDescriptor(UInt16(i), address: 0x200000 + 2048 * UInt64(i),
                                 length: UInt32(MemoryNetBackend.frameLength), flags: 0, next: 0)
        }
    }

    /// `count` rounds of `batch` frames in the bench's direction.
    public func run(rounds count: Int) throws {
        for _ in 0..<count {
            switch direction {
            case .transmit:
                for i in 0..<batch { try tx.publish(UInt16(i)) }
                transport.notify(queue: VirtioNet.transmitQueue)
                guard try tx.usedIdx() == tx.availIdx else { throw BenchError("frames not transmitted") }
            case .receive:
                for i in 0..<batch { try rx.publish(UInt16(i)) }
                transport.notify(queue: VirtioNet.receiveQueue)
                backend.pending.withLock { $0 = batch }
                device.backendReadable()
                guard try rx.usedIdx() == rx.availIdx else { throw BenchError("frames not received") }
            }
        }
    }
}
