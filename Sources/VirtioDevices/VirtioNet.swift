// virtio-net (virtio 1.2, 5.1) over a NetBackend: receive queue 0, transmit queue 1, no control
// queue, one queue pair. Features are negotiated honestly: an offload is offered only when the
// backend does the work, and once the driver has chosen, the backend is told which unfinished
// frames the guest accepts. Receive is driven by the event loop (the backend's descriptor became
// readable: `backendReadable()`), transmit by the driver's kicks on queue 1.
//
// Back-pressure without drops: a frame read from the backend stays pending until the guest posts
// buffers for it. Meanwhile the device asks not to be woken for backend readability (a
// level-triggered epoll would otherwise spin on the unread descriptor) and re-arms RX queue kicks;
// the driver's next RX kick resumes it. Only frames that can never fit are dropped, counted and logged.
import GuestMemory
import Synchronization

/// Counters of one virtio-net device, for logs and tests.
public struct NetStatistics: Sendable, Equatable {
    public var receivedFrames: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    /// Frames larger than the buffers the driver can ever post for them.
    public var receiveDroppedTooBig: UInt64 = 0
    /// Frames whose header asks for an offload the driver did not accept.
    public var receiveDroppedUnsupported: UInt64 = 0
    /// Frames dropped because the driver reset the device while they waited.
    public var receiveDroppedByReset: UInt64 = 0
    public var receiveBackendErrors: UInt64 = 0
    /// RX buffers returned unused because they cannot even hold the header.
    public var receiveShortBuffers: UInt64 = 0
    public var transmittedFrames: UInt64 = 0
    public var transmittedBytes: UInt64 = 0
    /// TX chains that were too short, too long, or asked for an offload that was not negotiated.
    public var transmitInvalid: UInt64 = 0
    /// Frames the backend refused (e.g. EAGAIN/ENOBUFS from a full tap queue).
    public var transmitBackendErrors: UInt64 = 0
    public init() {}
}

public final class VirtioNet: VirtioDevice, Sendable {
    public static let receiveQueue = 0
    public static let transmitQueue = 1
    /// Largest frame after the header: a 64 KiB TSO frame plus Ethernet and VLAN headers (as QEMU's
    /// VIRTIO_NET_MAX_BUFSIZE allows). Bounds every copy a guest or the backend can cause.
    public static let maxFrameLength = 65536 + 26
    /// Frames handled per `backendReadable()`, so one busy link cannot hold the event loop.
    static let receiveBudget = 64

    /// Asks the machine to watch (true) or stop watching (false) the backend for readability.
    public typealias ReceiveInterest = @Sendable (Bool) -> Void
    /// A log line about a dropped frame or a backend failure (rate-limited by the device).
    public typealias Log = @Sendable (String) -> Void

    struct Active {
        var memory: GuestMemoryMap
        var rx: Virtqueue
        var tx: Virtqueue
        var interrupt: any VirtioInterrupt
        /// RX chains popped but not used yet (a mergeable frame waiting for more, or a frame that
        /// did not fit): at most the queue size, since each is a distinct avail slot.
        var held: [DescriptorChain] = []
        /// Set when a frame waits for buffers: RX kicks are armed and backend reads are paused.
        var waitingForBuffers = false
    }

    struct State {
        var active: Active?
        var features: UInt64 = 0
        /// A frame (header included) read from the backend and not yet given to the guest.
        var pending: [UInt8]?
        var interested = false
        var interest: ReceiveInterest?
        var statistics = NetStatistics()
        var scratch: [UInt8] = []
    }

    public let backend: any NetBackend
    public let mac: MACAddress
    public let mtu: UInt16?
    public let queueMaxSize: UInt16
    private let config: [UInt8]
    private let offered: UInt64
    let log: Log
    let state = Mutex(State())

    /// `mtu`, when given, is offered with VIRTIO_NET_F_MTU (68...65535, 5.1.4.1).
    public init(backend: any NetBackend, mac: MACAddress, mtu: UInt16? = nil, queueMaxSize: UInt16 = 256,
                log: @escaping Log = { _ in }) {
        self.backend = backend
        self.mac = mac
        self.mtu = mtu.flatMap { $0 >= 68 ? $0 : nil }
        self.queueMaxSize = queueMaxSize
        self.log = log
        offered = VirtioNetFeature.offered(transmit: backend.transmitOffloads, receive: backend.receiveOffloads,
                                           mtu: self.mtu != nil)
        // mac[6], status (VIRTIO_NET_S_LINK_UP), max_virtqueue_pairs = 1, mtu (5.1.4).
        let m = self.mtu ?? 0
        config = mac.bytes + [1, 0, 1, 0, UInt8(truncatingIfNeeded: m), UInt8(truncatingIfNeeded: m >> 8)]
    }

    public var deviceID: VirtioDeviceID { .net }
    public var deviceFeatures: UInt64 { offered }
    public var queueMaxSizes: [UInt16] { [queueMaxSize, queueMaxSize] }
    public var configSize: Int { config.count }
    public var statistics: NetStatistics { state.withLock { $0.statistics } }
    /// Whether the device currently wants `backendReadable()` calls (for tests and logs).
    public var wantsBackendReadable: Bool { state.withLock { $0.interested } }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        VirtioConfigBytes.read(config, offset: offset, size: size)
    }

    /// Installs the machine's switch for backend readability, and sets it to the current need
    /// (off until the driver has activated the device).
    public func setReceiveInterest(_ interest: @escaping ReceiveInterest) {
        state.withLock { s in
            s.interest = interest
            s.interested = s.active != nil && !(s.active?.waitingForBuffers ?? false)
            interest(s.interested)
        }
    }

    public func featuresNegotiated(_ features: UInt64) {
        let offloads = VirtioNetFeature.receiveOffloads(negotiated: features)
        state.withLock { $0.features = features }
        if case let .failure(error) = backend.setReceiveOffloads(offloads.intersection(backend.receiveOffloads)) {
            log("virtio-net: cannot set receive offloads \(offloads): \(error)")
        }
    }

    public func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        guard queues.count > Self.transmitQueue else { throw .invalidQueueIndex(Self.transmitQueue) }
        state.withLock { s in
            s.active = Active(memory: memory, rx: queues[Self.receiveQueue], tx: queues[Self.transmitQueue],
                              interrupt: interrupt)
            setInterest(true, &s)
        }
    }

    public func reset() {
        state.withLock { s in
            if s.pending != nil {
                s.statistics.receiveDroppedByReset += 1
                s.pending = nil
            }
            s.active = nil
            s.features = 0
            setInterest(false, &s)
        }
        // Nothing unfinished for a driver that has not negotiated again.
        _ = backend.setReceiveOffloads([])
    }

    public func queueNotified(index: Int) throws(VirtioDeviceError) {
        switch index {
        case Self.receiveQueue: receiveKicked()
        case Self.transmitQueue: try transmitKicked()
        default: throw .invalidQueueIndex(index)
        }
    }

    /// Applied under the state lock so two threads cannot reorder on/off switches; the machine's
    /// switch (an epoll_ctl) never calls back into the device.
    func setInterest(_ on: Bool, _ s: inout State) {
        guard s.interested != on else { return }
        s.interested = on
        s.interest?(on)
    }

    /// Logs the 1st, 2nd, 4th, 8th ... occurrence of a counted event: visible, never a flood.
    func logCounted(_ count: UInt64, _ message: @autoclosure () -> String) {
        if count & (count &- 1) == 0 { log("virtio-net: \(message()) (\(count) so far)") }
    }

    // MARK: - Transmit

    private func transmitKicked() throws(VirtioDeviceError) {
        let (signal, interrupt) = try state.withLock { (s) throws(VirtioDeviceError) -> (Bool, (any VirtioInterrupt)?) in
            guard var active = s.active else { return (false, nil) }
            defer { s.active = active }
            let memory = active.memory
            let features = s.features
            var stats = s.statistics
            defer { s.statistics = stats }
            do throws(VirtqueueError) {
                let notify = try active.tx.serveAll { (chain) throws(VirtqueueError) -> UInt32 in
                    try transmit(chain, memory: memory, features: features, stats: &stats)
                    return 0   // the device writes nothing into TX buffers
                }
                return (notify, active.interrupt)
            } catch {
                throw .queue(index: Self.transmitQueue, error)
            }
        }
        if signal { interrupt?.signalUsedBuffer() }
    }

    /// Sends one TX chain (header + frame, device-readable only) to the backend. A bad chain or a
    /// refused frame is counted and returned to the driver; it does not stop the queue.
    private func transmit(_ chain: DescriptorChain, memory: GuestMemoryMap, features: UInt64,
                          stats: inout NetStatistics) throws(VirtqueueError) {
        let length = chain.readableLength
        guard length >= UInt64(VirtioNetHeader.size), length <= UInt64(VirtioNetHeader.size + Self.maxFrameLength) else {
            stats.transmitInvalid += 1
            logCounted(stats.transmitInvalid, "dropped a TX chain of \(length) bytes (expected \(VirtioNetHeader.size)...\(VirtioNetHeader.size + Self.maxFrameLength))")
            return
        }
        let frame: [UInt8]
        do { frame = try chain.gatherReadable(from: memory, maxLength: Int(length)) } catch { throw .memory(error) }
        guard let header = VirtioNetHeader(frame), header.isAllowedForTransmit(features: features) else {
            stats.transmitInvalid += 1
            logCounted(stats.transmitInvalid, "dropped a TX frame whose header asks for an offload that was not negotiated")
            return
        }
        switch backend.send(frame) {
        case .success:
            stats.transmittedFrames += 1
            stats.transmittedBytes += UInt64(frame.count - VirtioNetHeader.size)
        case let .failure(error):
            stats.transmitBackendErrors += 1
            logCounted(stats.transmitBackendErrors, "backend refused a TX frame: \(error)")
        }
    }
}
