import GuestMemory
import Synchronization
import Testing
import VirtioDevices

/// A two-queue device that completes every chain with its writable length, with 8 bytes of
/// config space (byte 0 writable).
final class EchoDevice: VirtioDevice, Sendable {
    struct State {
        var queues: [Virtqueue] = []
        var interrupt: (any VirtioInterrupt)?
        var config: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var activations = 0
        var resets = 0
        var features: UInt64 = 0
    }
    let state = Mutex(State())

    var deviceID: VirtioDeviceID { .console }
    var deviceFeatures: UInt64 { 1 << 0 }
    var queueMaxSizes: [UInt16] { [16, 16] }
    var configSize: Int { 8 }
    func readConfig(offset: Int, size: Int) -> UInt64 {
        state.withLock { VirtioConfigBytes.read($0.config, offset: offset, size: size) }
    }
    func writeConfig(offset: Int, size: Int, value: UInt64) {
        if offset == 0 && size == 1 { state.withLock { $0.config[0] = UInt8(value) } }
    }
    func featuresNegotiated(_ features: UInt64) { state.withLock { $0.features = features } }
    func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        state.withLock { $0.queues = queues; $0.interrupt = interrupt; $0.activations += 1 }
    }
    func queueNotified(index: Int) throws(VirtioDeviceError) {
        let interrupt = try state.withLock { (s) throws(VirtioDeviceError) -> (any VirtioInterrupt)? in
            guard s.queues.indices.contains(index) else { throw .invalidQueueIndex(index) }
            do throws(VirtqueueError) {
                while let chain = try s.queues[index].popAvailable() {
                    try s.queues[index].addUsed(head: chain.head, length: UInt32(chain.writableLength))
                }
                return try s.queues[index].needsNotification() ? s.interrupt : nil
            } catch {
                throw .queue(index: index, error)
            }
        }
        interrupt?.signalUsedBuffer()
    }
    func reset() { state.withLock { $0.queues = []; $0.interrupt = nil; $0.resets += 1 } }
    func changeConfig() { state.withLock { $0.interrupt }?.signalConfigChange() }
}

/// The errors a transport reported through `onDeviceError`.
final class ErrorLog: Sendable {
    let list = Mutex<[VirtioDeviceError]>([])
}

@Suite("virtio-mmio transport")
struct MMIOTransportTests {
    let memory: GuestMemoryMap
    let device = EchoDevice()
    let raised = Counter()
    let reported = ErrorLog()
    let transport: VirtioMMIOTransport
    let driver: MMIODriver

    init() throws {
        memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        let raised = self.raised, reported = self.reported
        transport = VirtioMMIOTransport(device: device, memory: memory,
                                        onDeviceError: { e in reported.list.withLock { $0.append(e) } }) { raised.bump() }
        driver = MMIODriver(transport: transport)
    }

    var allFeatures: UInt64 { VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors | 1 }

    @Test func identification() {
        #expect(driver.r(0x000) == 0x7472_6976)
        #expect(driver.r(0x004) == 2)
        #expect(driver.r(0x008) == 3)
        #expect(driver.r(0x00c) == 0x4D4D_5653)
        #expect(driver.features() == allFeatures)
        // Wrong size or alignment: ignored, reads 0.
        #expect(transport.read(offset: 0, size: 2) == 0)
        #expect(transport.read(offset: 2, size: 4) == 0)
        #expect(transport.read(offset: 0x1c, size: 4) == 0)
    }

    @Test func linuxSequence() throws {
        var q0 = try TestDriver(size: 16, memory: memory)
        let q1 = try TestDriver(size: 16, memory: memory, base: 0x8000)
        driver.w(0x70, 0); driver.w(0x70, 1); driver.w(0x70, 3)
        driver.w(0x30, 0)
        #expect(driver.r(0x34) == 16)
        driver.w(0x30, 2)
        #expect(driver.r(0x34) == 0)  // no such queue
        #expect(driver.bringUp(features: allFeatures, queues: [q0, q1]))
        #expect(transport.status == 15)
        #expect(device.state.withLock { $0.activations } == 1)
        #expect(device.state.withLock { $0.features } == allFeatures)
        #expect(transport.negotiatedFeatures == allFeatures)

        try q0.setDescriptor(0, address: 0x10000, length: 64, flags: 2)
        try q0.publish(0)
        driver.w(0x50, 0)  // QueueNotify
        #expect(try q0.usedIdx() == 1)
        #expect(try q0.usedElement(0) == (0, 64))
        #expect(raised.count == 1)
        #expect(driver.r(0x60) == 1)
        driver.w(0x64, 1)
        #expect(driver.r(0x60) == 0)
        // Queue registers are frozen once the device is live.
        driver.w(0x30, 0); driver.w(0x38, 4)
        #expect(device.state.withLock { $0.queues[0].size } == 16)
    }

    @Test func refusedFeaturesOK() throws {
        let q = try TestDriver(size: 16, memory: memory)
        // Without VERSION_1: refused.
        #expect(!driver.bringUp(features: 1, queues: [q]))
        #expect(transport.status == 3)
        // A bit that was not offered: refused.
        #expect(!driver.bringUp(features: VirtioFeature.version1 | 1 << 5, queues: [q]))
        // DRIVER_OK without FEATURES_OK is ignored.
        driver.w(0x70, 1 | 2 | 4)
        #expect(transport.status == 3)
        #expect(device.state.withLock { $0.activations } == 0)
        #expect(driver.bringUp(features: VirtioFeature.version1, queues: [q]))
    }

    @Test func outOfOrderStatusIgnored() {
        driver.w(0x70, 2)       // DRIVER before ACKNOWLEDGE
        #expect(transport.status == 0)
        driver.w(0x70, 1 | 8)   // FEATURES_OK before DRIVER
        #expect(transport.status == 1)
    }

    @Test func resetClearsState() throws {
        let q = try TestDriver(size: 16, memory: memory)
        driver.bringUp(features: allFeatures, queues: [q])
        device.changeConfig()
        #expect(transport.interruptStatus == 2)
        driver.w(0x70, 0)
        #expect(transport.status == 0)
        #expect(transport.interruptStatus == 0)
        #expect(device.state.withLock { $0.resets } >= 1)
        driver.w(0x30, 0)
        #expect(driver.r(0x44) == 0)  // QueueReady cleared
        // A stale handle from the old activation no longer reaches the driver.
        let before = raised.count
        device.state.withLock { $0.interrupt }?.signalUsedBuffer()
        #expect(raised.count == before)
    }

    @Test func configSpaceAndGeneration() throws {
        #expect(transport.read(offset: 0x100, size: 4) == 0x0403_0201)
        #expect(transport.read(offset: 0x100, size: 8) == 0x0807_0605_0403_0201)
        #expect(transport.read(offset: 0x102, size: 2) == 0x0403)
        #expect(transport.read(offset: 0x101, size: 2) == 0)  // unaligned
        #expect(transport.read(offset: 0x106, size: 4) == 0)  // crosses the end
        #expect(transport.read(offset: 0x108, size: 1) == 0)  // past the end
        transport.write(offset: 0x100, size: 1, value: 0xaa)
        #expect(transport.read(offset: 0x100, size: 1) == 0xaa)

        let q = try TestDriver(size: 16, memory: memory)
        driver.bringUp(features: allFeatures, queues: [q])
        let generation = driver.r(0xfc)
        device.changeConfig()
        #expect(driver.r(0xfc) == generation &+ 1)
        #expect(driver.r(0x60) == 2)
        #expect(raised.count == 1)
        driver.w(0x64, 2)
        #expect(driver.r(0x60) == 0)
    }

    @Test func malformedQueueSetsNeedsResetOthersKeepWorking() throws {
        var q0 = try TestDriver(size: 16, memory: memory)
        var q1 = try TestDriver(size: 16, memory: memory, base: 0x8000)
        driver.bringUp(features: allFeatures, queues: [q0, q1])
        try q0.setAvailIdx(40)  // runs ahead of a 16-entry queue
        q0.availIdx = 40
        driver.w(0x50, 0)
        #expect(transport.status & 64 != 0)
        #expect(transport.lastDeviceError == .queue(index: 0, .availIndexAhead(availIndex: 40, lastAvail: 0, size: 16)))
        #expect(transport.interruptStatus & 2 != 0)
        #expect(raised.count == 1)
        // The machine hears the error once (it logs it), however often the guest kicks again.
        driver.w(0x50, 0)
        #expect(reported.list.withLock { $0 } == [.queue(index: 0, .availIndexAhead(availIndex: 40, lastAvail: 0, size: 16))])
        // Queue 1 still serves the driver.
        try q1.setDescriptor(0, address: 0x10000, length: 8, flags: 2)
        try q1.publish(0)
        transport.notify(queue: 1)
        #expect(try q1.usedIdx() == 1)
        // Reset and bring up again: healthy.
        #expect(driver.bringUp(features: allFeatures, queues: [q0, q1]))
        #expect(transport.status == 15)
        #expect(transport.lastDeviceError == nil)
    }

    @Test func invalidRingAtActivation() throws {
        var bad = try TestDriver(size: 16, memory: memory)
        bad.used = GuestAddress(0x6002)  // misaligned used ring
        var good = try TestDriver(size: 16, memory: memory, base: 0x8000)
        driver.bringUp(features: allFeatures, queues: [bad, good])
        #expect(transport.status & 64 != 0)
        #expect(transport.lastDeviceError == .queue(index: 0, .misalignedRing(.usedRing, address: GuestAddress(0x6002))))
        try good.setDescriptor(0, address: 0x10000, length: 8, flags: 2)
        try good.publish(0)
        transport.notify(queue: 1)
        #expect(try good.usedIdx() == 1)
    }

    @Test func invalidQueueSizeAtActivation() throws {
        let q = try TestDriver(size: 12, memory: memory)
        driver.bringUp(features: allFeatures, queues: [q])
        #expect(transport.lastDeviceError == .queue(index: 0, .invalidSize(12, max: 16)))
        #expect(transport.status & 64 != 0)
    }
}

@Suite("virtio-rng")
struct VirtioRNGTests {
    @Test func fillsBufferWithRandomBytes() throws {
        let memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        let rng = VirtioRNG()
        let raised = Counter()
        let transport = VirtioMMIOTransport(device: rng, memory: memory) { raised.bump() }
        let driver = MMIODriver(transport: transport)
        var q = try TestDriver(size: 16, memory: memory)
        #expect(driver.r(0x8) == 4)
        #expect(driver.bringUp(features: VirtioFeature.version1 | VirtioFeature.eventIndex, queues: [q]))
        try q.setDescriptor(0, address: 0x10000, length: 100, flags: 2 | 1, next: 1)
        try q.setDescriptor(1, address: 0x11000, length: 156, flags: 2)
        try q.publish(0)
        transport.notify(queue: 0)
        #expect(try q.usedIdx() == 1)
        #expect(try q.usedElement(0) == (0, 256))
        let bytes = try memory.read(count: 100, at: GuestAddress(0x10000)) + memory.read(count: 156, at: GuestAddress(0x11000))
        #expect(Set(bytes).count > 16)  // 256 random bytes: non-constant with overwhelming odds
        #expect(raised.count == 1)
        #expect(try q.availEvent() == 1)  // re-armed for the next request
    }
}
