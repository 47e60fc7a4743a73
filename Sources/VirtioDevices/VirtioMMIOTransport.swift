// The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): a 4 KiB register block in front of a
// VirtioDevice. Same read/write shape as Machine's BusDevice so the machine wraps it without this
// module depending on Machine. Registers are 32-bit and aligned; any other access is ignored and
// reads as 0 (4.2.2.2: the driver MUST use 32-bit aligned accesses for the control registers).
import GuestMemory
import Synchronization

public final class VirtioMMIOTransport: Sendable {
    /// Size of the register window.
    public static let windowSize: UInt64 = 0x1000
    /// QueueNotify: register an ioeventfd here (4 bytes, datamatch = queue index) and call
    /// `notify(queue:)` from the event loop.
    public static let queueNotifyOffset: UInt64 = 0x50
    public static let magicValue: UInt32 = 0x7472_6976  // "virt"
    public static let vendorID: UInt32 = 0x4D4D_5653    // "SVMM"
    public static let configOffset: UInt64 = 0x100
    /// Transport feature bits this implementation provides on top of the device's own.
    public static let transportFeatures: UInt64 =
        VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex

    enum Register: UInt64 {
        case magic = 0x000, version = 0x004, deviceID = 0x008, vendorID = 0x00c
        case deviceFeatures = 0x010, deviceFeaturesSel = 0x014
        case driverFeatures = 0x020, driverFeaturesSel = 0x024
        case queueSel = 0x030, queueNumMax = 0x034, queueNum = 0x038, queueReady = 0x044
        case queueNotify = 0x050, interruptStatus = 0x060, interruptACK = 0x064, status = 0x070
        case queueDescLow = 0x080, queueDescHigh = 0x084
        case queueDriverLow = 0x090, queueDriverHigh = 0x094
        case queueDeviceLow = 0x0a0, queueDeviceHigh = 0x0a4
        case shmSel = 0x0ac, shmLenLow = 0x0b0, shmLenHigh = 0x0b4, shmBaseLow = 0x0b8, shmBaseHigh = 0x0bc
        case configGeneration = 0x0fc
    }

    struct State {
        var status: UInt32 = 0
        var deviceFeaturesSel: UInt32 = 0
        var driverFeaturesSel: UInt32 = 0
        var driverFeatures: UInt64 = 0
        var queueSel: UInt32 = 0
        var queues: [VirtqueueConfig]
    }

    public let device: any VirtioDevice
    let memory: GuestMemoryMap
    let interrupts: VirtioMMIOInterruptState
    let maxSizes: [UInt16]
    let state: Mutex<State>

    /// `raiseInterrupt` asserts the device's interrupt line (the machine wires an irqfd);
    /// `onDeviceError` hears which guest (or backend) error set DEVICE_NEEDS_RESET, once per reset.
    public init(device: any VirtioDevice, memory: GuestMemoryMap,
                onDeviceError: (@Sendable (VirtioDeviceError) -> Void)? = nil,
                raiseInterrupt: @escaping @Sendable () -> Void) {
        self.device = device
        self.memory = memory
        self.interrupts = VirtioMMIOInterruptState(raise: raiseInterrupt, onDeviceError: onDeviceError)
        self.maxSizes = device.queueMaxSizes
        self.state = Mutex(State(queues: Self.initialQueues(maxSizes)))
    }

    static func initialQueues(_ maxSizes: [UInt16]) -> [VirtqueueConfig] {
        maxSizes.map {
            VirtqueueConfig(size: $0, descriptorTable: GuestAddress(0), availableRing: GuestAddress(0),
                            usedRing: GuestAddress(0), ready: false)
        }
    }

    public var offeredFeatures: UInt64 { device.deviceFeatures | Self.transportFeatures }

    /// The status the driver reads: its own bits plus DEVICE_NEEDS_RESET when the device failed.
    public var status: UInt32 {
        let needsReset = interrupts.state.withLock { $0.needsReset }
        return state.withLock { $0.status } | (needsReset ? VirtioStatus.deviceNeedsReset : 0)
    }
    public var interruptStatus: UInt32 { interrupts.state.withLock { $0.interruptStatus } }
    public var configGeneration: UInt32 { interrupts.state.withLock { $0.configGeneration } }
    /// The error that set DEVICE_NEEDS_RESET, for the machine's log.
    public var lastDeviceError: VirtioDeviceError? { interrupts.state.withLock { $0.lastError } }
    /// The features the driver accepted (meaningful once FEATURES_OK is set).
    public var negotiatedFeatures: UInt64 { state.withLock { $0.driverFeatures } }

    // MARK: - Register access

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= Self.configOffset {
            guard let at = configAccess(offset: offset, size: size) else { return 0 }
            return device.readConfig(offset: at, size: size)
        }
        guard size == 4, offset % 4 == 0, let register = Register(rawValue: offset) else { return 0 }
        return UInt64(readRegister(register))
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset >= Self.configOffset {
            guard let at = configAccess(offset: offset, size: size) else { return }
            device.writeConfig(offset: at, size: size, value: value)
            return
        }
        guard size == 4, offset % 4 == 0, let register = Register(rawValue: offset) else { return }
        writeRegister(register, UInt32(truncatingIfNeeded: value))
    }

    /// The config-space offset for a naturally aligned 1/2/4/8-byte access inside the device's
    /// config space, or nil.
    private func configAccess(offset: UInt64, size: Int) -> Int? {
        guard [1, 2, 4, 8].contains(size), offset < Self.windowSize else { return nil }
        let at = Int(offset - Self.configOffset)
        guard at % size == 0, at + size <= device.configSize else { return nil }
        return at
    }

    private func readRegister(_ register: Register) -> UInt32 {
        switch register {
        case .magic: return Self.magicValue
        case .version: return 2
        case .deviceID: return device.deviceID.rawValue
        case .vendorID: return Self.vendorID
        case .deviceFeatures:
            let sel = state.withLock { $0.deviceFeaturesSel }
            guard sel < 2 else { return 0 }
            return UInt32(truncatingIfNeeded: offeredFeatures >> (32 * UInt64(sel)))
        case .queueNumMax:
            return state.withLock { s in Int(s.queueSel) < maxSizes.count ? UInt32(maxSizes[Int(s.queueSel)]) : 0 }
        case .queueReady:
            return state.withLock { s in s.queues.indices.contains(Int(s.queueSel)) && s.queues[Int(s.queueSel)].ready ? 1 : 0 }
        case .interruptStatus: return interruptStatus
        case .status: return status
        case .configGeneration: return configGeneration
        // No shared memory regions: a length of all ones says "no such region" (4.2.2).
        case .shmLenLow, .shmLenHigh, .shmBaseLow, .shmBaseHigh: return 0xffff_ffff
        default: return 0  // write-only registers
        }
    }

    private func writeRegister(_ register: Register, _ value: UInt32) {
        switch register {
        case .deviceFeaturesSel: state.withLock { $0.deviceFeaturesSel = value }
        case .driverFeaturesSel: state.withLock { $0.driverFeaturesSel = value }
        case .driverFeatures:
            state.withLock { s in
                // Only between DRIVER and FEATURES_OK (3.1.1 steps 4–5); selectors past 1 are ignored.
                guard s.status & VirtioStatus.driver != 0, s.status & VirtioStatus.featuresOK == 0,
                      s.driverFeaturesSel < 2 else { return }
                let shift = 32 * UInt64(s.driverFeaturesSel)
                s.driverFeatures = (s.driverFeatures & ~(0xffff_ffff << shift)) | (UInt64(value) << shift)
            }
        case .queueSel: state.withLock { $0.queueSel = value }
        case .queueNum:
            // Validated at DRIVER_OK. A value above 16 bits becomes 0 (not a truncation, which
            // could turn e.g. 0x10010 into a valid-looking 16), so activation rejects it.
            updateQueue { $0.size = value <= UInt32(UInt16.max) ? UInt16(value) : 0 }
        case .queueReady:
            state.withLock { s in
                let i = Int(s.queueSel)
                guard s.queues.indices.contains(i), s.status & VirtioStatus.driverOK == 0 else { return }
                s.queues[i].ready = value & 1 != 0
            }
        case .queueDescLow: updateQueue { $0.descriptorTable = Self.setLow($0.descriptorTable, value) }
        case .queueDescHigh: updateQueue { $0.descriptorTable = Self.setHigh($0.descriptorTable, value) }
        case .queueDriverLow: updateQueue { $0.availableRing = Self.setLow($0.availableRing, value) }
        case .queueDriverHigh: updateQueue { $0.availableRing = Self.setHigh($0.availableRing, value) }
        case .queueDeviceLow: updateQueue { $0.usedRing = Self.setLow($0.usedRing, value) }
        case .queueDeviceHigh: updateQueue { $0.usedRing = Self.setHigh($0.usedRing, value) }
        case .queueNotify: notify(queue: Int(value & 0xffff))
        case .interruptACK: interrupts.acknowledge(value)
        case .status: writeStatus(value)
        default: break  // read-only registers
        }
    }

    /// Queue registers are writable only while the selected queue is not ready and the device
    /// is not live (4.2.2.3: the driver MUST NOT change them after enabling the queue).
    private func updateQueue(_ body: (inout VirtqueueConfig) -> Void) {
        state.withLock { s in
            let i = Int(s.queueSel)
            guard s.queues.indices.contains(i), !s.queues[i].ready, s.status & VirtioStatus.driverOK == 0 else { return }
            body(&s.queues[i])
        }
    }

    private static func setLow(_ a: GuestAddress, _ v: UInt32) -> GuestAddress {
        GuestAddress((a.raw & 0xffff_ffff_0000_0000) | UInt64(v))
    }
    private static func setHigh(_ a: GuestAddress, _ v: UInt32) -> GuestAddress {
        GuestAddress((a.raw & 0xffff_ffff) | (UInt64(v) << 32))
    }

    // MARK: - Notifications

    /// A kick for `queue`, from QueueNotify or the event loop's ioeventfd. Ignored unless the
    /// device is live; a device error sets DEVICE_NEEDS_RESET but the VMM (and the device's
    /// other queues) go on.
    public func notify(queue: Int) {
        let (live, epoch) = (state.withLock { $0.status & VirtioStatus.driverOK != 0 }, interrupts.epoch)
        guard live else { return }
        do {
            try device.queueNotified(index: queue)
        } catch {
            interrupts.needsReset(epoch: epoch, error)
        }
    }
}
