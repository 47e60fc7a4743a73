// A 16550A-compatible UART (COM1 at 0x3f8). Output goes to a sink at once, so polling drivers see a
// transmitter that is always ready and interrupt-driven ones (Linux's tty layer) get the THR-empty
// interrupt they wait for. Input is queued in a bounded receive buffer fed by the event loop; the
// guest gets the received-data interrupt, and the feeder is told when there is room again, so input
// is held back (never dropped) while the guest is not reading.
import Synchronization

/// Where serial output goes: called on the vCPU thread with each transmitted byte, in order.
public typealias SerialSink = @Sendable (UInt8) -> Void

public final class SerialPort: BusDevice {
    public static let com1Base: UInt16 = 0x3F8
    public static let registerCount: UInt64 = 8
    /// Receive buffer size: a real 16550 has 16 bytes; more lets pasted text through without stalls.
    public static let receiveCapacity = 4096

    // Register offsets (DLAB = divisor latch access bit in LCR).
    static let dataOrDivisorLow: UInt64 = 0, interruptEnableOrDivisorHigh: UInt64 = 1
    static let interruptIdentification: UInt64 = 2, lineControl: UInt64 = 3, modemControl: UInt64 = 4
    static let lineStatus: UInt64 = 5, modemStatus: UInt64 = 6, scratch: UInt64 = 7

    // LSR: transmit holding register empty and transmitter empty (output never blocks), data ready.
    static let lsrTransmitterReady: UInt8 = 0x60
    static let lsrDataReady: UInt8 = 0x01
    // MSR: carrier detect, data set ready, clear to send: a terminal is attached.
    static let msrConnected: UInt8 = 0xB0
    static let ierReceivedData: UInt8 = 0x01
    static let ierTransmitterEmpty: UInt8 = 0x02
    // IIR values, highest priority first (16550 data sheet table 4).
    static let iirReceivedData: UInt8 = 0x04
    static let iirTransmitterEmpty: UInt8 = 0x02
    static let iirNoInterrupt: UInt8 = 0x01

    private struct Registers {
        var ier: UInt8 = 0, lcr: UInt8 = 0, mcr: UInt8 = 0x08, scr: UInt8 = 0
        var divisor: UInt16 = 12 // 9600 baud
        var fcr: UInt8 = 0
        /// A THR-empty interrupt is pending until the guest reads IIR (16550: reading IIR clears it).
        var thrEmptyPending = false
        var receive: [UInt8] = []
        var receiveHead = 0
        var receiveCount: Int { receive.count - receiveHead }
    }

    private let state = Mutex(Registers())
    private let sink: SerialSink
    private let interrupt: @Sendable () -> Void
    /// Run when a full receive buffer drains: every feeder (stdin, the socket console) registers one.
    private let receiveSpace = Mutex<[@Sendable () -> Void]>([])

    /// `interrupt` raises the UART's IRQ line (an edge, e.g. an irqfd write); nil for polled use.
    public init(sink: @escaping SerialSink, interrupt: (@Sendable () -> Void)? = nil) {
        self.sink = sink
        self.interrupt = interrupt ?? {}
    }

    // MARK: input side (event loop)

    /// Free room in the receive buffer.
    public var receiveRoom: Int { state.withLock { Self.receiveCapacity - $0.receiveCount } }

    /// Queues bytes from the host side; returns how many were taken (at most `receiveRoom`). The rest
    /// must be offered again after `onReceiveSpace` fires.
    @discardableResult
    public func receive(_ bytes: some Collection<UInt8>) -> Int {
        let (taken, raise): (Int, Bool) = state.withLock { r in
            let n = min(bytes.count, Self.receiveCapacity - r.receiveCount)
            guard n > 0 else { return (0, false) }
            if r.receiveHead > 0 && r.receiveHead >= r.receive.count / 2 {
                r.receive.removeFirst(r.receiveHead)   // compact now and then, not on every read
                r.receiveHead = 0
            }
            r.receive.append(contentsOf: bytes.prefix(n))
            return (n, r.ier & Self.ierReceivedData != 0 && r.mcr & 0x10 == 0)
        }
        if raise { interrupt() }
        return taken
    }

    /// Adds a handler called (from a vCPU thread) when the guest reads from a full receive buffer.
    public func onReceiveSpace(_ handler: @escaping @Sendable () -> Void) {
        receiveSpace.withLock { $0.append(handler) }
    }

    // MARK: guest side

    public func read(offset: UInt64, size: Int) -> UInt64 {
        var drained = false
        let value: UInt8 = state.withLock { r in
            let dlab = r.lcr & 0x80 != 0
            switch offset {
            case Self.dataOrDivisorLow:
                if dlab { return UInt8(truncatingIfNeeded: r.divisor) }
                guard r.receiveCount > 0 else { return 0 }
                let wasFull = r.receiveCount == Self.receiveCapacity
                let byte = r.receive[r.receiveHead]
                r.receiveHead += 1
                if r.receiveCount == 0 { r.receive.removeAll(keepingCapacity: true); r.receiveHead = 0 }
                drained = wasFull
                return byte
            case Self.interruptEnableOrDivisorHigh: return dlab ? UInt8(truncatingIfNeeded: r.divisor >> 8) : r.ier
            case Self.interruptIdentification:
                let fifo: UInt8 = r.fcr & 1 != 0 ? 0xC0 : 0
                if r.receiveCount > 0 && r.ier & Self.ierReceivedData != 0 { return fifo | Self.iirReceivedData }
                if r.thrEmptyPending && r.ier & Self.ierTransmitterEmpty != 0 {
                    r.thrEmptyPending = false
                    return fifo | Self.iirTransmitterEmpty
                }
                return fifo | Self.iirNoInterrupt
            case Self.lineControl: return r.lcr
            case Self.modemControl: return r.mcr
            case Self.lineStatus: return Self.lsrTransmitterReady | (r.receiveCount > 0 ? Self.lsrDataReady : 0)
            case Self.modemStatus:
                // In loopback (MCR bit 4) the modem lines reflect MCR, as drivers probing the UART expect.
                if r.mcr & 0x10 != 0 { return (r.mcr & 0x0C) << 4 | (r.mcr & 0x03) << 4 }
                return Self.msrConnected
            case Self.scratch: return r.scr
            default: return 0xFF
            }
        }
        if drained { receiveSpace.withLock { $0 }.forEach { $0() } }
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        var drained = false
        let (transmit, raise): (Bool, Bool) = state.withLock { r in
            let dlab = r.lcr & 0x80 != 0
            switch offset {
            case Self.dataOrDivisorLow:
                if dlab { r.divisor = (r.divisor & 0xFF00) | UInt16(byte); return (false, false) }
                // The byte leaves at once, so the holding register is empty again right away.
                r.thrEmptyPending = true
                return (r.mcr & 0x10 == 0, r.ier & Self.ierTransmitterEmpty != 0) // loopback: stays on chip
            case Self.interruptEnableOrDivisorHigh:
                if dlab { r.divisor = (r.divisor & 0x00FF) | UInt16(byte) << 8; return (false, false) }
                let old = r.ier
                r.ier = byte & 0x0F
                // Enabling THRE interrupts with an empty THR raises one at once (16550 behaviour); so
                // does enabling received-data interrupts with data waiting.
                let thre = byte & Self.ierTransmitterEmpty != 0 && old & Self.ierTransmitterEmpty == 0
                if thre { r.thrEmptyPending = true }
                let rda = byte & Self.ierReceivedData != 0 && old & Self.ierReceivedData == 0 && r.receiveCount > 0
                return (false, thre || rda)
            case Self.interruptIdentification:
                r.fcr = byte
                if byte & 0x02 != 0 { // clear the receive FIFO
                    drained = r.receiveCount == Self.receiveCapacity
                    r.receive.removeAll(keepingCapacity: true)
                    r.receiveHead = 0
                }
            case Self.lineControl: r.lcr = byte
            case Self.modemControl: r.mcr = byte & 0x1F
            case Self.scratch: r.scr = byte
            default: break
            }
            return (false, false)
        }
        if transmit { sink(byte) }
        if raise { interrupt() }
        if drained { receiveSpace.withLock { $0 }.forEach { $0() } }
    }
}
