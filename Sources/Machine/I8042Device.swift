// An i8042 keyboard controller with an AT keyboard behind it, as far as a Linux guest and a VMM need:
// the controller commands Linux's i8042 driver sends while probing (self-test, interface test,
// configuration byte, port enable/disable), the keyboard commands atkbd sends (reset, identify, LEDs,
// scan-code set, enable), the CPU reset line (command 0xFE, how `reboot=k` reboots), and key-sequence
// injection: Ctrl-Alt-Del, which a guest init that disabled CAD receives as SIGINT and treats as a
// request to shut down gracefully (the way Firecracker's SendCtrlAltDel works). Ports 0x60 (data)
// and 0x64 (status/command); IRQ 1 when the output buffer fills and the keyboard interrupt is on.
import Synchronization

public final class I8042Device: BusDevice {
    public static let dataPort: UInt16 = 0x60
    public static let commandPort: UInt16 = 0x64
    /// The bus range covers 0x60...0x64; offsets 1-3 (0x61-0x63) are not the controller's.
    public static let length: UInt64 = 5

    // Status register bits.
    static let statusOutputFull: UInt8 = 0x01
    static let statusSystemFlag: UInt8 = 0x04
    static let statusUnlocked: UInt8 = 0x10     // keyboard inhibit switch off (QEMU's default too)
    static let statusCommand: UInt8 = 0x08      // last write was to the command port
    static let statusAuxData: UInt8 = 0x20
    // Configuration byte ("command byte") bits.
    static let configKeyboardInterrupt: UInt8 = 0x01
    static let configSystemFlag: UInt8 = 0x04
    static let configKeyboardDisabled: UInt8 = 0x10
    static let configAuxDisabled: UInt8 = 0x20

    /// Set-2 scan codes (no controller translation) for Ctrl-Alt-Del press and release, as Firecracker
    /// sends them.
    public static let ctrlAltDel: [UInt8] = [0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0, 0x71, 0xF0, 0x11, 0xF0, 0x14]

    private struct State {
        var config: UInt8 = configKeyboardInterrupt | configSystemFlag | configAuxDisabled
        var status: UInt8 = statusSystemFlag | statusUnlocked
        var output: [UInt8] = []         // bytes for the guest, oldest first (bounded)
        var pendingCommand: UInt8? = nil  // controller command waiting for its data byte
        var pendingKeyboardCommand: UInt8? = nil
        var outputPort: UInt8 = 0x01
    }

    private let state = Mutex(State())
    private let interrupt: @Sendable () -> Void
    private let onReset: @Sendable () -> Void
    static let outputLimit = 64

    /// `interrupt` raises IRQ 1 (an edge); `onReset` is the CPU reset line.
    public init(interrupt: (@Sendable () -> Void)? = nil, onReset: @escaping @Sendable () -> Void) {
        self.interrupt = interrupt ?? {}
        self.onReset = onReset
    }

    /// Queues key bytes as if typed (e.g. `ctrlAltDel`); false when the guest has not drained the
    /// buffer (nothing is queued then, so the caller can retry).
    @discardableResult
    public func injectKeys(_ bytes: [UInt8]) -> Bool {
        let raise: Bool? = state.withLock { s in
            guard s.output.count + bytes.count <= Self.outputLimit else { return nil }
            s.output.append(contentsOf: bytes)
            return Self.refreshStatus(&s)
        }
        guard let raise else { return false }
        if raise { interrupt() }
        return true
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        var raise = false
        let value: UInt8 = state.withLock { s in
            switch offset {
            case 0: // data: the next output byte (the last one stays readable, as on hardware)
                guard !s.output.isEmpty else { return 0 }
                let byte = s.output.removeFirst()
                raise = Self.refreshStatus(&s)
                return byte
            case 4: return s.status
            default: return 0xFF
            }
        }
        if raise { interrupt() }
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        var reset = false
        let raise: Bool = state.withLock { s in
            switch offset {
            case 4:
                s.status |= Self.statusCommand
                reset = Self.controllerCommand(byte, &s)
            case 0:
                s.status &= ~Self.statusCommand
                if let command = s.pendingCommand {
                    s.pendingCommand = nil
                    Self.controllerData(command: command, byte, &s)
                } else {
                    Self.keyboardByte(byte, &s)
                }
            default:
                return false
            }
            return Self.refreshStatus(&s)
        }
        if reset { onReset() }
        if raise { interrupt() }
    }

    /// Returns true for a reset request.
    private static func controllerCommand(_ command: UInt8, _ s: inout State) -> Bool {
        switch command {
        case 0x20: push(s.config, &s)                       // read configuration byte
        case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: s.pendingCommand = command // a data byte follows
        case 0xA7: s.config |= configAuxDisabled              // disable aux port
        case 0xA8: s.config &= ~configAuxDisabled             // enable aux port
        case 0xA9: push(0x00, &s)                             // aux interface test: OK
        case 0xAA: push(0x55, &s)                             // controller self-test: passed
        case 0xAB: push(0x00, &s)                             // keyboard interface test: OK
        case 0xAD: s.config |= configKeyboardDisabled
        case 0xAE: s.config &= ~configKeyboardDisabled
        case 0xC0: push(0x00, &s)                             // input port
        case 0xD0: push(s.outputPort, &s)                     // read output port
        case 0xFE: return true                                // pulse reset line
        default: break                                        // unknown: ignored, as QEMU does
        }
        return false
    }

    private static func controllerData(command: UInt8, _ byte: UInt8, _ s: inout State) {
        switch command {
        case 0x60: s.config = byte
        case 0xD1: s.outputPort = byte                        // bit 0 = reset line, held high
        case 0xD2: push(byte, &s)                             // echo as keyboard data
        case 0xD3: push(byte, &s)                             // echo as aux data (no mouse here)
        case 0xD4: break                                      // to the aux device: no mouse, dropped
        default: break
        }
    }

    private static func keyboardByte(_ byte: UInt8, _ s: inout State) {
        if let command = s.pendingKeyboardCommand {
            s.pendingKeyboardCommand = nil
            if command == 0xF0 && byte == 0 { push(0xFA, &s); push(0x02, &s); return } // query: set 2
            push(0xFA, &s)                                    // LEDs, set, typematic rate: ack
            return
        }
        switch byte {
        case 0xED, 0xF0, 0xF3: s.pendingKeyboardCommand = byte; push(0xFA, &s)
        case 0xF2: push(0xFA, &s); push(0xAB, &s); push(0x83, &s) // identify: MF2 keyboard
        case 0xF4, 0xF5, 0xF6: push(0xFA, &s)                      // enable / disable / defaults
        case 0xEE: push(0xEE, &s)                                  // echo
        case 0xFF: push(0xFA, &s); push(0xAA, &s)                  // reset: ack, self-test passed
        default: push(0xFE, &s)                                    // resend: not understood
        }
    }

    private static func push(_ byte: UInt8, _ s: inout State) {
        guard s.output.count < outputLimit else { return }   // a guest flooding commands loses replies
        s.output.append(byte)
    }

    /// Updates the output-full bit; true when an interrupt should be raised for a waiting byte.
    private static func refreshStatus(_ s: inout State) -> Bool {
        if s.output.isEmpty {
            s.status &= ~statusOutputFull
            return false
        }
        s.status |= statusOutputFull
        return s.config & configKeyboardInterrupt != 0 && s.config & configKeyboardDisabled == 0
    }
}
