// How a machine ended, and the process exit status the `vmm` binary gives for it.

public enum MachineExit: Equatable, Sendable, CustomStringConvertible {
    /// The guest wrote `value` to the debug-exit port: status (value << 1) | 1, as QEMU's isa-debug-exit.
    case debugExit(UInt32)
    /// Every vCPU halted with nothing left to wake it (simple guests without an interrupt controller).
    case halted
    /// The guest powered off (ACPI S5, KVM system event shutdown).
    case poweredOff
    /// The guest asked for a reset; this VMM does not reboot guests, it ends the VM.
    case reset
    /// The guest died: triple fault, KVM internal error, failed entry, crash event. `diagnosis` is one
    /// line: exit reason, vCPU, RIP, CPL and instruction bytes.
    case guestError(diagnosis: String)
    /// Stopped from outside (signal, API).
    case stopped(reason: String)

    /// Process exit status: 0 clean, odd = debug exit, 2 = the guest died, 3 = stopped from outside.
    /// (A VMM-side failure is 1 with an error message, a usage error 64.)
    public var processStatus: Int32 {
        switch self {
        case let .debugExit(v): Int32(truncatingIfNeeded: (UInt64(v & 0x7F) << 1) | 1)
        case .halted, .poweredOff, .reset: 0
        case .guestError: 2
        case .stopped: 3
        }
    }

    public var description: String {
        switch self {
        case let .debugExit(v): "guest wrote \(v) to the debug-exit port"
        case .halted: "all vCPUs halted"
        case .poweredOff: "guest powered off"
        case .reset: "guest requested a reset"
        case let .guestError(d): d
        case let .stopped(r): "stopped: \(r)"
        }
    }
}
