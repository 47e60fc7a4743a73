// A 16550A-compatible UART (COM1 at 0x3f8), output side: what the guest transmits goes to a sink at
// once. Register semantics follow the 16550 data sheet so polling drivers see a transmitter that is
// always ready, and interrupt-driven ones (Linux's tty layer) get the THR-empty interrupt they wait
// for before sending the next byte. Input lands with the boot issue.
import Synchronization

/// Where serial output goes: called on the vCPU thread with each transmitted byte, in order.
public typealias SerialSink = @Sendable (UInt8) -> Void

public final class SerialPort: BusDevice {
    public static let com1Base: UInt16 = 0x3F8
    public static let registerCount: UInt64 = 8

    // Register offsets (DLAB = divisor latch access bit in LCR).
    static let dataOrDivisorLow: UInt64 = 0, interruptEnableOrDivisorHigh: UInt64 = 1
    static let interruptIdentification: UInt64 = 2, lineControl: UInt64 = 3, modemControl: UInt64 = 4
    static let lineStatus: UInt64 = 5, modemStatus: UInt64 = 6, scratch: UInt64 = 7

    // LSR bits: transmit holding register empty and transmitter empty: output never blocks.
    static let lsrTransmitterReady: UInt8 = 0x60
    // MSR: carrier detect, data set ready, clear to send: a terminal is attached.
    static let msrConnected: UInt8 = 0xB0

    private struct Registers {
        var ier: UInt8 = 0, lcr: UInt8 = 0, mcr: UInt8 = 0x08, scr: UInt8 = 0
        var divisor: UInt16 = 12 // 9600 baud
        var fcr: UInt8 = 0
        /// A THR-empty interrupt is pending until the guest reads IIR (16550: reading IIR clears it).
        var thrEmptyPending = false
    }

    private let state = Mutex(Registers())
    private let sink: SerialSink
    private let interrupt: @Sendable () -> Void

    /// `interrupt` raises the UART's IRQ line (an edge, e.g. an irqfd write); nil for polled use.
    public init(sink: @escaping SerialSink, interrupt: (@Sendable () -> Void)? = nil) {
        self.sink = sink
        self.interrupt = interrupt ?? {}
    }

    static let ierTransmitterEmpty: UInt8 = 0x02
    static let iirNoInterrupt: UInt8 = 0x01
    static let iirTransmitterEmpty: UInt8 = 0x02

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let value: UInt8 = state.withLock { r in
            let dlab = r.lcr & 0x80 != 0
            switch offset {
            case Self.dataOrDivisorLow: return dlab ? UInt8(truncatingIfNeeded: r.divisor) : 0 // no input yet
            case Self.interruptEnableOrDivisorHigh: return dlab ? UInt8(truncatingIfNeeded: r.divisor >> 8) : r.ier
            case Self.interruptIdentification:
                let fifo: UInt8 = r.fcr & 1 != 0 ? 0xC0 : 0
                if r.thrEmptyPending && r.ier & Self.ierTransmitterEmpty != 0 {
                    r.thrEmptyPending = false
                    return fifo | Self.iirTransmitterEmpty
                }
                return fifo | Self.iirNoInterrupt
            case Self.lineControl: return r.lcr
            case Self.modemControl: return r.mcr
            case Self.lineStatus: return Self.lsrTransmitterReady
            case Self.modemStatus:
                // In loopback (MCR bit 4) the modem lines reflect MCR, as drivers probing the UART expect.
                if r.mcr & 0x10 != 0 { return (r.mcr & 0x0C) << 4 | (r.mcr & 0x03) << 4 }
                return Self.msrConnected
            case Self.scratch: return r.scr
            default: return 0xFF
            }
        }
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
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
                let enabling = byte & Self.ierTransmitterEmpty != 0 && r.ier & Self.ierTransmitterEmpty == 0
                r.ier = byte & 0x0F
                // Enabling THRE interrupts with an empty THR raises one at once (16550 behaviour).
                if enabling { r.thrEmptyPending = true }
                return (false, enabling)
            case Self.interruptIdentification: r.fcr = byte
            case Self.lineControl: r.lcr = byte
            case Self.modemControl: r.mcr = byte & 0x1F
            case Self.scratch: r.scr = byte
            default: break
            }
            return (false, false)
        }
        if transmit { sink(byte) }
        if raise { interrupt() }
    }
}
