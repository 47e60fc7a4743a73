// virtio-console (virtio 1.2, 5.3) with a single port: receiveq0 (queue 0, host → guest) and
// transmitq0 (queue 1, guest → host), the console size in config space (VIRTIO_CONSOLE_F_SIZE) and
// emergency writes (VIRTIO_CONSOLE_F_EMERG_WRITE); no MULTIPORT, so no control queues.
//
// Output goes to a `ConsoleSink` as the guest queues it. Input is pushed in by the host side with
// `receive(_:)`, the same shape as the UART's: the device keeps a bounded buffer of input the guest
// has not posted receive buffers for yet, `receive` takes only what fits, and `onReceiveSpace`
// handlers run when a full buffer drains, so the host stops reading its input instead of dropping
// bytes or spinning.
//
// Held input is delivered as soon as the driver posts receive buffers. Linux's driver posts them
// before it marks its console port connected and discards what arrives in between, so input sent
// while the guest boots can be lost inside the guest; without MULTIPORT there is no port-open message
// that would tell the device when to start.
import GuestMemory
import Synchronization

/// Where the guest's console output goes. Called with the bytes of one transmit chain, in order, on
/// the thread serving the transmit queue (the machine's event loop), with the device's queue lock
/// held: it must not call back into the device, and should not block for long.
public protocol ConsoleSink: Sendable {
    func write(_ bytes: [UInt8])
}

public final class VirtioConsole: VirtioDevice, Sendable {
    /// Device feature bits (5.3.3).
    public enum Feature {
        public static let size: UInt64 = 1 << 0
        public static let multiport: UInt64 = 1 << 1
        public static let emergencyWrite: UInt64 = 1 << 2
    }

    public static let receiveQueue = 0
    public static let transmitQueue = 1
    /// Bytes forwarded per transmit chain at most: bounds the host allocation per chain. Linux sends
    /// at most a page per chain; anything past the cap is counted in `droppedTransmitBytes`.
    public static let maxTransmitBytesPerChain = 64 * 1024
    /// Default bound on input held while the guest has no receive buffers posted.
    public static let defaultInputCapacity = 4096

    /// struct virtio_console_config (5.3.4): le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr.
    static let configLength = 12
    static let emergencyWriteOffset = 8

    struct Active {
        var memory: GuestMemoryMap
        var receive: Virtqueue
        var transmit: Virtqueue
    }

    /// Queue-side state: touched on the event loop (notifications, host input).
    struct QueueState {
        var active: Active?
        /// Input waiting for receive buffers, oldest first; at most `inputCapacity` bytes.
        var pending: [UInt8] = []
        var droppedTransmitBytes: UInt64 = 0
    }

    /// Config-side state: touched by vCPU threads (config reads) and whoever resizes. Kept apart
    /// from the queue lock, which is held while the sink writes.
    struct ConfigState {
        var columns: UInt16
        var rows: UInt16
        var negotiated: UInt64 = 0
        var interrupt: (any VirtioInterrupt)?
    }

    private let sink: any ConsoleSink
    private let queues = Mutex(QueueState())
    private let config: Mutex<ConfigState>
    private let receiveSpace = Mutex<[@Sendable () -> Void]>([])
    public let queueMaxSize: UInt16
    public let inputCapacity: Int

    public init(sink: any ConsoleSink, columns: UInt16 = 0, rows: UInt16 = 0,
                queueMaxSize: UInt16 = 256, inputCapacity: Int = VirtioConsole.defaultInputCapacity) {
        self.sink = sink
        self.config = Mutex(ConfigState(columns: columns, rows: rows))
        self.queueMaxSize = queueMaxSize
        self.inputCapacity = max(1, inputCapacity)
    }

    public var deviceID: VirtioDeviceID { .console }
    public var deviceFeatures: UInt64 { Feature.size | Feature.emergencyWrite }
    public var queueMaxSizes: [UInt16] { [queueMaxSize, queueMaxSize] }
    public var configSize: Int { Self.configLength }

    /// The size the guest reads (columns, rows).
    public var size: (columns: UInt16, rows: UInt16) { config.withLock { ($0.columns, $0.rows) } }

    /// Transmit bytes past the per-chain cap, which the sink never saw.
    public var droppedTransmitBytes: UInt64 { queues.withLock { $0.droppedTransmitBytes } }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        let bytes: [UInt8] = config.withLock { c in
            [UInt8(truncatingIfNeeded: c.columns), UInt8(truncatingIfNeeded: c.columns >> 8),
             UInt8(truncatingIfNeeded: c.rows), UInt8(truncatingIfNeeded: c.rows >> 8),
             1, 0, 0, 0,   // max_nr_ports: one (only meaningful with MULTIPORT)
             0, 0, 0, 0]   // emerg_wr is write-only
        }
        return VirtioConfigBytes.read(bytes, offset: offset, size: size)
    }

    /// A write to emerg_wr sends its low byte straight to the sink (5.3.6.2: usable before the
    /// queues, even before feature negotiation). Everything else in config space is read-only.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        guard offset == Self.emergencyWriteOffset, size == 4 else { return }
        sink.write([UInt8(truncatingIfNeeded: value)])
    }

    public func featuresNegotiated(_ features: UInt64) {
        config.withLock { $0.negotiated = features }
    }

    public func activate(memory: GuestMemoryMap, queues list: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        guard list.count == 2 else { throw .invalidQueueIndex(list.count) }
        let signalSize = config.withLock { c -> Bool in
            c.interrupt = interrupt
            return c.negotiated & Feature.size != 0 && (c.columns != 0 || c.rows != 0)
        }
        queues.withLock { $0.active = Active(memory: memory, receive: list[0], transmit: list[1]) }
        // Linux reads cols/rows on a configuration interrupt: one now hands over the size the host
        // already knows, without waiting for the first resize.
        if signalSize { interrupt.signalConfigChange() }
    }

    /// Drops the queues. Input not yet delivered stays held: it is the host's, and a driver that
    /// comes back gets it.
    public func reset() {
        queues.withLock { $0.active = nil }
        config.withLock { $0.interrupt = nil; $0.negotiated = 0 }
    }

    public func queueNotified(index: Int) throws(VirtioDeviceError) {
        switch index {
        case Self.receiveQueue:
            // New receive buffers: deliver held input into them.
            let (signal, drained) = try queues.withLock { (s) throws(VirtioDeviceError) -> (Bool, Bool) in
                let wasFull = s.pending.count >= inputCapacity
                let signal = try Self.deliver(&s)
                return (signal, wasFull && s.pending.count < inputCapacity)
            }
            if signal { config.withLock { $0.interrupt }?.signalUsedBuffer() }
            if drained { receiveSpace.withLock { $0 }.forEach { $0() } }
        case Self.transmitQueue:
            let sink = self.sink
            let signal = try queues.withLock { (s) throws(VirtioDeviceError) -> Bool in
                guard var active = s.active else { return false }
                defer { s.active = active }
                let memory = active.memory
                var dropped: UInt64 = 0
                defer { s.droppedTransmitBytes &+= dropped }
                do throws(VirtqueueError) {
                    return try active.transmit.serveAll { (chain) throws(VirtqueueError) -> UInt32 in
                        let cap = Self.maxTransmitBytesPerChain
                        let bytes: [UInt8]
                        do throws(GuestMemoryError) { bytes = try chain.gatherReadable(from: memory, maxLength: cap) } catch {
                            throw .memory(error)
                        }
                        dropped &+= chain.readableLength - UInt64(bytes.count)
                        if !bytes.isEmpty { sink.write(bytes) }
                        return 0   // the device writes nothing into a transmit buffer
                    }
                } catch {
                    throw .queue(index: Self.transmitQueue, error)
                }
            }
            if signal { config.withLock { $0.interrupt }?.signalUsedBuffer() }
        default:
            throw .invalidQueueIndex(index)
        }
    }

    /// Moves held input into the guest's receive buffers; returns whether to raise the used-buffer
    /// interrupt. Chains are popped only while there is input for them, so buffers the guest posts
    /// early stay available. With input left over, driver kicks are re-armed (and the ring checked
    /// once more) so the next posted buffer brings the device back.
    private static func deliver(_ s: inout QueueState) throws(VirtioDeviceError) -> Bool {
        guard var active = s.active, !s.pending.isEmpty else { return false }
        defer { s.active = active }
        let memory = active.memory
        var added = false
        do throws(VirtqueueError) {
            var more = false
            repeat {
                while !s.pending.isEmpty, let chain = try active.receive.popAvailable() {
                    let count = Int(min(chain.writableLength, UInt64(s.pending.count)))
                    let written: Int
                    do throws(GuestMemoryError) { written = try chain.scatterWritable(Array(s.pending.prefix(count)), into: memory) } catch {
                        throw .memory(error)
                    }
                    s.pending.removeFirst(written)
                    try active.receive.addUsed(head: chain.head, length: UInt32(written))
                    added = true
                }
                more = s.pending.isEmpty ? false : try active.receive.enableNotification()
            } while more
            return added ? try active.receive.needsNotification() : false
        } catch {
            throw .queue(index: receiveQueue, error)
        }
    }

    // MARK: host input

    /// Free room in the held-input buffer.
    public var receiveRoom: Int { queues.withLock { inputCapacity - $0.pending.count } }

    /// Takes host input (at most `receiveRoom` bytes) and delivers what it can into receive buffers
    /// at once; returns how many bytes were taken. The rest must be offered again after an
    /// `onReceiveSpace` handler runs. A malformed receive queue sets DEVICE_NEEDS_RESET; the bytes
    /// taken stay held for the driver's next activation.
    @discardableResult
    public func receive(_ bytes: some Collection<UInt8>) -> Int {
        let (taken, outcome) = queues.withLock { s -> (Int, Result<Bool, VirtioDeviceError>) in
            let n = min(bytes.count, inputCapacity - s.pending.count)
            guard n > 0 else { return (0, .success(false)) }
            s.pending.append(contentsOf: bytes.prefix(n))
            do throws(VirtioDeviceError) { return (n, .success(try Self.deliver(&s))) } catch { return (n, .failure(error)) }
        }
        let interrupt = config.withLock { $0.interrupt }
        switch outcome {
        case .success(true): interrupt?.signalUsedBuffer()
        case .success(false): break
        case let .failure(error): interrupt?.deviceNeedsReset(error)
        }
        return taken
    }

    /// Adds a handler run (on the thread that served the receive queue) when held input that had
    /// filled the buffer moves into the guest, so a reader that stopped can resume.
    public func onReceiveSpace(_ handler: @escaping @Sendable () -> Void) {
        receiveSpace.withLock { $0.append(handler) }
    }

    // MARK: console size

    /// Sets the console size (a terminal resize). When it changed and the driver negotiated
    /// VIRTIO_CONSOLE_F_SIZE, the guest gets a configuration-change interrupt and re-reads it.
    public func resize(columns: UInt16, rows: UInt16) {
        let interrupt = config.withLock { c -> (any VirtioInterrupt)? in
            guard c.columns != columns || c.rows != rows else { return nil }
            c.columns = columns
            c.rows = rows
            return c.negotiated & Feature.size != 0 ? c.interrupt : nil
        }
        interrupt?.signalConfigChange()
    }
}
