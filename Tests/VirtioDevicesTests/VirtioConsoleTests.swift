// virtio-console driven through the MMIO transport by a scripted driver over real guest memory:
// output to a fake sink, input held while the guest has no receive buffers and delivered when it
// posts some, the console size and its change interrupt, and hostile rings ending in
// DEVICE_NEEDS_RESET.
import GuestMemory
import Synchronization
import Testing
import VirtioDevices

/// Collects what the device sends to the host, chain by chain.
final class FakeConsoleSink: ConsoleSink {
    private let writes = Mutex<[[UInt8]]>([])
    func write(_ bytes: [UInt8]) { writes.withLock { $0.append(bytes) } }
    var chunks: [[UInt8]] { writes.withLock { $0 } }
    var text: String { String(decoding: chunks.joined(), as: UTF8.self) }
}

@Suite("virtio-console")
struct VirtioConsoleTests {
    static let next: UInt16 = 1, write: UInt16 = 2
    let memory: GuestMemoryMap
    let sink = FakeConsoleSink()
    let raised = Counter()
    let console: VirtioConsole
    let transport: VirtioMMIOTransport
    let driver: MMIODriver
    /// receiveq0 at the TestDriver's default rings, transmitq0 at +0x8000.
    var rx: TestDriver
    var tx: TestDriver

    init() throws {
        try self.init(inputCapacity: VirtioConsole.defaultInputCapacity)
    }

    init(inputCapacity: Int, columns: UInt16 = 0, rows: UInt16 = 0) throws {
        memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        console = VirtioConsole(sink: sink, columns: columns, rows: rows, queueMaxSize: 16, inputCapacity: inputCapacity)
        let raised = self.raised
        transport = VirtioMMIOTransport(device: console, memory: memory) { raised.bump() }
        driver = MMIODriver(transport: transport)
        rx = try TestDriver(size: 16, memory: memory)
        tx = try TestDriver(size: 16, memory: memory, base: 0x8000)
    }

    static let baseFeatures = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors

    func bringUp(features: UInt64 = baseFeatures | VirtioConsole.Feature.size) {
        #expect(driver.bringUp(features: features, queues: [rx, tx]))
    }

    /// Posts one device-writable buffer of `length` bytes at `address` as receive chain `head`.
    mutating func postReceive(_ head: UInt16, address: UInt64, length: UInt32) throws {
        try rx.setDescriptor(head, address: address, length: length, flags: Self.write)
        try rx.publish(head)
        transport.notify(queue: 0)
    }

    @Test func identificationFeaturesAndConfig() throws {
        let console = try VirtioConsoleTests(inputCapacity: 64, columns: 132, rows: 43)
        #expect(console.driver.r(0x008) == 3, "device ID 3: console")
        let features = console.driver.features()
        #expect(features & VirtioConsole.Feature.size != 0)
        #expect(features & VirtioConsole.Feature.emergencyWrite != 0)
        #expect(features & VirtioConsole.Feature.multiport == 0, "one port, no control queues")
        console.driver.w(0x30, 0)
        #expect(console.driver.r(0x34) == 16)
        console.driver.w(0x30, 1)
        #expect(console.driver.r(0x34) == 16)
        console.driver.w(0x30, 2)
        #expect(console.driver.r(0x34) == 0, "only receiveq0 and transmitq0")
        #expect(console.transport.read(offset: 0x100, size: 2) == 132, "cols")
        #expect(console.transport.read(offset: 0x102, size: 2) == 43, "rows")
        #expect(console.transport.read(offset: 0x100, size: 4) == 43 << 16 | 132)
        #expect(console.transport.read(offset: 0x104, size: 4) == 1, "max_nr_ports")
        #expect(console.transport.read(offset: 0x10c, size: 4) == 0, "past the 12-byte config")
        console.transport.write(offset: 0x100, size: 2, value: 7)
        #expect(console.transport.read(offset: 0x100, size: 2) == 132, "cols is read-only")
    }

    @Test func transmitChainGoesToTheSinkInOrder() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        try t.memory.write(Array("hello, ".utf8), at: GuestAddress(0x10000))
        try t.memory.write(Array("world\n".utf8), at: GuestAddress(0x11000))
        try t.tx.setDescriptor(0, address: 0x10000, length: 7, flags: Self.next, next: 1)
        try t.tx.setDescriptor(1, address: 0x11000, length: 6)
        try t.tx.publish(0)
        try t.memory.write(Array("second".utf8), at: GuestAddress(0x12000))
        try t.tx.setDescriptor(2, address: 0x12000, length: 6)
        try t.tx.publish(2)
        t.transport.notify(queue: 1)
        #expect(t.sink.chunks == [Array("hello, world\n".utf8), Array("second".utf8)], "one write per chain, in order")
        #expect(try t.tx.usedIdx() == 2)
        #expect(try t.tx.usedElement(0) == (0, 0), "the device writes nothing into transmit buffers")
        #expect(try t.tx.usedElement(1) == (2, 0))
        #expect(t.raised.count == 1)
        #expect(t.transport.status & VirtioStatus.deviceNeedsReset == 0)
    }

    @Test func transmitIsBoundedPerChain() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        let cap = VirtioConsole.maxTransmitBytesPerChain
        try t.tx.setDescriptor(0, address: 0x20000, length: UInt32(cap), flags: Self.next, next: 1)
        try t.tx.setDescriptor(1, address: 0x40000, length: 100)
        try t.tx.publish(0)
        t.transport.notify(queue: 1)
        #expect(t.sink.chunks.map(\.count) == [cap])
        #expect(t.console.droppedTransmitBytes == 100)
        #expect(try t.tx.usedIdx() == 1, "the chain is still completed")
    }

    @Test func inputIsHeldUntilTheGuestPostsBuffers() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        #expect(t.console.receive(Array("abc".utf8)) == 3)
        #expect(try t.rx.usedIdx() == 0, "no receive buffer yet: nothing delivered")
        #expect(t.console.receiveRoom == VirtioConsole.defaultInputCapacity - 3)
        #expect(t.raised.count == 0)
        try t.postReceive(0, address: 0x10000, length: 2)
        #expect(try t.rx.usedIdx() == 1)
        #expect(try t.rx.usedElement(0) == (0, 2))
        #expect(try t.memory.read(count: 2, at: GuestAddress(0x10000)) == Array("ab".utf8))
        #expect(t.raised.count == 1)
        // "c" is still held: with EVENT_IDX the device asks to be kicked for the next buffer.
        #expect(try t.rx.availEvent() == 1)
        #expect(t.console.receiveRoom == VirtioConsole.defaultInputCapacity - 1)
        try t.postReceive(1, address: 0x11000, length: 64)
        #expect(try t.rx.usedElement(1) == (1, 1))
        #expect(try t.memory.read(count: 1, at: GuestAddress(0x11000)) == Array("c".utf8))
        #expect(t.console.receiveRoom == VirtioConsole.defaultInputCapacity)
    }

    @Test func inputGoesStraightIntoPostedBuffersAndSpansChains() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        try t.postReceive(0, address: 0x10000, length: 4)
        try t.postReceive(1, address: 0x11000, length: 4)
        #expect(try t.rx.usedIdx() == 0, "buffers wait for input")
        #expect(t.console.receive(Array("abcdef".utf8)) == 6)
        #expect(try t.rx.usedIdx() == 2)
        #expect(try t.rx.usedElement(0) == (0, 4))
        #expect(try t.rx.usedElement(1) == (1, 2))
        #expect(try t.memory.read(count: 4, at: GuestAddress(0x10000)) == Array("abcd".utf8))
        #expect(try t.memory.read(count: 2, at: GuestAddress(0x11000)) == Array("ef".utf8))
        #expect(t.raised.count == 1)
    }

    @Test func fullInputBufferPushesBackAndSignalsWhenDrained() throws {
        var t = try VirtioConsoleTests(inputCapacity: 8)
        let resumed = Counter()
        t.console.onReceiveSpace { resumed.bump() }
        // Before the driver is even up, input is held, never dropped, up to the bound.
        #expect(t.console.receive(Array("0123456789".utf8)) == 8, "only what fits is taken")
        #expect(t.console.receiveRoom == 0)
        #expect(t.console.receive(Array("x".utf8)) == 0, "the feeder keeps the rest")
        t.bringUp()
        #expect(resumed.count == 0)
        try t.postReceive(0, address: 0x10000, length: 5)
        #expect(try t.memory.read(count: 5, at: GuestAddress(0x10000)) == Array("01234".utf8))
        #expect(resumed.count == 1, "room again: the reader is told to resume")
        #expect(t.console.receiveRoom == 5)
        try t.postReceive(1, address: 0x11000, length: 16)
        #expect(try t.rx.usedElement(1) == (1, 3))
        #expect(try t.memory.read(count: 3, at: GuestAddress(0x11000)) == Array("567".utf8))
        #expect(resumed.count == 1, "only a full buffer draining wakes the reader")
    }

    @Test func resizeRaisesAConfigChangeOnceSizeIsNegotiated() throws {
        let t = try VirtioConsoleTests()
        t.bringUp()
        let generation = t.driver.r(0xfc)
        t.console.resize(columns: 100, rows: 40)
        #expect(t.transport.read(offset: 0x100, size: 2) == 100)
        #expect(t.transport.read(offset: 0x102, size: 2) == 40)
        #expect(t.driver.r(0xfc) == generation &+ 1)
        #expect(t.driver.r(0x60) & VirtioMMIOInterruptBits.configChange != 0)
        #expect(t.raised.count == 1)
        t.driver.w(0x64, VirtioMMIOInterruptBits.configChange)
        t.console.resize(columns: 100, rows: 40)
        #expect(t.raised.count == 1, "the same size again is no change")
        #expect(t.driver.r(0x60) == 0)
    }

    @Test func resizeWithoutTheSizeFeatureStaysQuiet() throws {
        let t = try VirtioConsoleTests()
        t.bringUp(features: Self.baseFeatures)
        t.console.resize(columns: 90, rows: 30)
        #expect(t.transport.read(offset: 0x100, size: 4) == 30 << 16 | 90)
        #expect(t.raised.count == 0)
    }

    @Test func knownSizeIsAnnouncedAtActivation() throws {
        let t = try VirtioConsoleTests(inputCapacity: 64, columns: 80, rows: 24)
        t.bringUp()
        #expect(t.driver.r(0x60) & VirtioMMIOInterruptBits.configChange != 0, "the driver re-reads cols/rows")
        #expect(t.raised.count == 1)
    }

    @Test func emergencyWriteGoesToTheSink() throws {
        let t = try VirtioConsoleTests()
        t.transport.write(offset: 0x108, size: 4, value: UInt64(UInt8(ascii: "!")))
        t.transport.write(offset: 0x108, size: 1, value: UInt64(UInt8(ascii: "?")))  // not a 32-bit write
        #expect(t.sink.text == "!")
    }

    @Test func loopingTransmitChainNeedsResetAndReceiveKeepsWorking() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        try t.tx.setDescriptor(0, address: 0x10000, length: 8, flags: Self.next, next: 1)
        try t.tx.setDescriptor(1, address: 0x10000, length: 8, flags: Self.next, next: 0)
        try t.tx.publish(0)
        t.transport.notify(queue: 1)
        #expect(t.transport.status & VirtioStatus.deviceNeedsReset != 0)
        #expect(t.transport.lastDeviceError == .queue(index: 1, .descriptorChainTooLong(limit: 16)))
        #expect(t.sink.chunks.isEmpty)
        #expect(t.console.receive(Array("ok".utf8)) == 2)
        try t.postReceive(0, address: 0x11000, length: 8)
        #expect(try t.rx.usedElement(0) == (0, 2), "the other queue still serves the driver")
    }

    @Test func hostileReceiveRingNeedsResetAndHeldInputSurvivesTheReset() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        try t.rx.setAvailIdx(40)   // runs ahead of a 16-entry queue
        t.rx.availIdx = 40
        // The failure surfaces on the host-input path, outside any guest notification.
        #expect(t.console.receive(Array("kept".utf8)) == 4)
        #expect(t.transport.status & VirtioStatus.deviceNeedsReset != 0)
        #expect(t.transport.lastDeviceError == .queue(index: 0, .availIndexAhead(availIndex: 40, lastAvail: 0, size: 16)))
        #expect(t.raised.count == 1, "one configuration interrupt for the reset request")
        // The driver resets and comes back with sane rings: the input was held, not lost.
        t.rx = try TestDriver(size: 16, memory: t.memory)
        try t.rx.setAvailIdx(0)
        try t.memory.write([UInt8](repeating: 0, count: 0x100), at: GuestAddress(0x6000))
        t.bringUp()
        #expect(t.transport.status & VirtioStatus.deviceNeedsReset == 0)
        try t.postReceive(0, address: 0x10000, length: 16)
        #expect(try t.rx.usedElement(0) == (0, 4))
        #expect(try t.memory.read(count: 4, at: GuestAddress(0x10000)) == Array("kept".utf8))
    }

    @Test func receiveBufferOutsideMemoryNeedsReset() throws {
        var t = try VirtioConsoleTests()
        t.bringUp()
        #expect(t.console.receive(Array("x".utf8)) == 1)
        try t.postReceive(0, address: TestDriver.memorySize - 2, length: 16)
        #expect(t.transport.lastDeviceError == .queue(index: 0, .bufferOutsideMemory(address: GuestAddress(TestDriver.memorySize - 2), length: 16)))
        #expect(try t.rx.usedIdx() == 0)
    }
}
