// The hardware-reduced ACPI sleep and reset registers the FADT points at (BootLoader's ACPIPorts):
// a guest power-off (SLP_TYP = S5 with SLP_EN) or reset ends the VM cleanly.
import BootLoader

public final class ACPIPowerDevice: BusDevice {
    public static let base = ACPIPorts.sleepControl
    public static let length: UInt64 = 3
    private let onPowerOff: @Sendable () -> Void
    private let onReset: @Sendable () -> Void

    public init(onPowerOff: @escaping @Sendable () -> Void, onReset: @escaping @Sendable () -> Void) {
        self.onPowerOff = onPowerOff
        self.onReset = onReset
    }

    /// Sleep status reads as 0 (no wake event); the other registers are write-only.
    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        switch offset {
        case UInt64(ACPIPorts.sleepControl - Self.base):
            if ACPIPorts.isPowerOff(sleepControlWrite: byte) { onPowerOff() }
        case UInt64(ACPIPorts.reset - Self.base):
            if byte == ACPIPorts.resetValue { onReset() }
        default:
            break // sleep status: WAK_STS clears are accepted and ignored
        }
    }
}
