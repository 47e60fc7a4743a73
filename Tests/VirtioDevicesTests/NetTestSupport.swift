// A scripted network backend and a two-queue driver harness for the virtio-net tests: the device
// runs against real anonymous guest memory through the virtio-mmio transport, so negotiation,
// ring layout and DEVICE_NEEDS_RESET are the production paths.
import GuestMemory
import Synchronization
import Testing
import VirtioDevices

final class FakeNetBackend: NetBackend {
    let transmitOffloads: NetOffloads
    let receiveOffloads: NetOffloads
    private struct State {
        var inbox: [[UInt8]] = []
        var sent: [[UInt8]] = []
        var offloadCalls: [NetOffloads] = []
        var sendFailure: NetBackendError?
        var reads = 0
    }
    private let state = Mutex(State())

    init(transmit: NetOffloads = [], receive: NetOffloads = []) {
        transmitOffloads = transmit
        receiveOffloads = receive
    }

    func queue(_ frame: [UInt8]) { state.withLock { $0.inbox.append(frame) } }
    var sent: [[UInt8]] { state.withLock { $0.sent } }
    var waiting: Int { state.withLock { $0.inbox.count } }
    var reads: Int { state.withLock { $0.reads } }
    var offloadCalls: [NetOffloads] { state.withLock { $0.offloadCalls } }
    func failSends(_ error: NetBackendError?) { state.withLock { $0.sendFailure = error } }

    func receive(into buffer: inout [UInt8]) -> NetReceiveResult {
        let frame: [UInt8]? = state.withLock { s in
            s.reads += 1
            return s.inbox.isEmpty ? nil : s.inbox.removeFirst()
        }
        guard let frame else { return .empty }
        let n = min(frame.count, buffer.count)
        buffer.replaceSubrange(0..<n, with: frame[0..<n])
        return .frame(length: n)
    }

    func send(_ frame: [UInt8]) -> Result<Void, NetBackendError> {
        state.withLock { s in
            if let failure = s.sendFailure { return .failure(failure) }
            s.sent.append(frame)
            return .success(())
        }
    }

    func setReceiveOffloads(_ offloads: NetOffloads) -> Result<Void, NetBackendError> {
        state.withLock { $0.offloadCalls.append(offloads) }
        return .success(())
    }
}

/// Records the device's requests to watch the backend.
final class InterestLog: Sendable {
    private let calls = Mutex<[Bool]>([])
    var values: [Bool] { calls.withLock { $0 } }
    var handler: VirtioNet.ReceiveInterest { { [self] on in calls.withLock { $0.append(on) } } }
}

/// Log lines the device wrote.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A VirtioNet over a fake backend, brought up by an MMIO driver with RX and TX queues of 8.
struct NetHarness {
    static let buffers: UInt64 = 0x20000
    let memory: GuestMemoryMap
    let backend: FakeNetBackend
    let device: VirtioNet
    let transport: VirtioMMIOTransport
    let raised = Counter()
    let interest = InterestLog()
    let log = LogLines()
    var rx: TestDriver
    var tx: TestDriver
    /// Next free RX descriptor index and buffer address.
    var nextRxDescriptor: UInt16 = 0
    var nextBuffer: UInt64 = NetHarness.buffers

    init(backend: FakeNetBackend = FakeNetBackend(), mtu: UInt16? = nil) throws {
        memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        self.backend = backend
        let log = self.log
        device = VirtioNet(backend: backend, mac: MACAddress("52:54:00:12:34:56")!, mtu: mtu,
                           log: { line in log.append(line) })
        let raised = self.raised
        transport = VirtioMMIOTransport(device: device, memory: memory) { raised.bump() }
        rx = try TestDriver(size: 8, memory: memory, base: 0)
        tx = try TestDriver(size: 8, memory: memory, base: 0x8000)
        device.setReceiveInterest(interest.handler)
    }

    /// Negotiates `features` (VERSION_1 added) and starts the device; returns whether FEATURES_OK stuck.
    @discardableResult
    func bringUp(_ features: UInt64) -> Bool {
        MMIODriver(transport: transport).bringUp(features: features | VirtioFeature.version1, queues: [rx, tx])
    }

    var needsReset: Bool { transport.status & VirtioStatus.deviceNeedsReset != 0 }

    /// Posts one RX chain of writable buffers with these lengths; returns its head.
    @discardableResult
    mutating func postRx(_ lengths: [UInt32], publish: Bool = true) throws -> (head: UInt16, addresses: [UInt64]) {
        let head = nextRxDescriptor
        var addresses: [UInt64] = []
        for (i, length) in lengths.enumerated() {
            let last = i == lengths.count - 1
            try rx.setDescriptor(nextRxDescriptor, address: nextBuffer, length: length,
                                 flags: 2 | (last ? 0 : 1), next: nextRxDescriptor &+ 1)
            addresses.append(nextBuffer)
            nextBuffer += UInt64(length)
            nextRxDescriptor = (nextRxDescriptor + 1) % rx.size
        }
        if publish { try rx.publish(head) }
        return (head, addresses)
    }

    /// Writes `parts` as readable buffers at `at` and links them as TX chain `head`.
    mutating func postTx(_ parts: [[UInt8]], head: UInt16 = 0, at: UInt64 = 0x60000) throws {
        var address = at
        for (i, part) in parts.enumerated() {
            try memory.write(part, at: GuestAddress(address))
            let last = i == parts.count - 1
            try tx.setDescriptor(head + UInt16(i), address: address, length: UInt32(part.count),
                                 flags: last ? 0 : 1, next: head + UInt16(i) + 1)
            address += UInt64(part.count)
        }
        try tx.publish(head)
    }
}

/// A frame as the backend delivers it: header then `payload`.
func netFrame(_ payload: [UInt8], header: VirtioNetHeader = VirtioNetHeader()) -> [UInt8] {
    header.bytes + payload
}

func netPattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13) &+ seed }
}
