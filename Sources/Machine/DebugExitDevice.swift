// QEMU's isa-debug-exit: a guest write of v ends the VM with process status (v << 1) | 1.
// Tests and small guests use it to report a result without a serial protocol.

/// The device on port 0xf4 (one byte wide by default; wider writes use all bytes written).
public final class DebugExitDevice: BusDevice {
    public static let defaultPort: UInt16 = 0xF4
    private let onExit: @Sendable (UInt32) -> Void

    public init(onExit: @escaping @Sendable (UInt32) -> Void) { self.onExit = onExit }

    public func read(offset: UInt64, size: Int) -> UInt64 { size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        onExit(UInt32(truncatingIfNeeded: value))
    }
}

