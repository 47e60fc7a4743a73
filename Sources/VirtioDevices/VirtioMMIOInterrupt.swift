// Interrupt state of a virtio-mmio device: the InterruptStatus bits, DEVICE_NEEDS_RESET and the
// config generation. Kept apart from the register state so a device can signal from any thread
// (event loop, backend) without taking the transport's lock, and so late signals from an
// activation that a reset has ended are dropped (each activation gets its own epoch).
import Synchronization

/// Bits of the device status field (virtio 1.2, 2.1).
public enum VirtioStatus {
    public static let acknowledge: UInt32 = 1
    public static let driver: UInt32 = 2
    public static let driverOK: UInt32 = 4
    public static let featuresOK: UInt32 = 8
    public static let deviceNeedsReset: UInt32 = 64
    public static let failed: UInt32 = 128
}

/// InterruptStatus bits (virtio 1.2, 4.2.2).
public enum VirtioMMIOInterruptBits {
    public static let usedBuffer: UInt32 = 1
    public static let configChange: UInt32 = 2
}

final class VirtioMMIOInterruptState: Sendable {
    struct State {
        var interruptStatus: UInt32 = 0
        var needsReset = false
        var lastError: VirtioDeviceError?
        var configGeneration: UInt32 = 0
        var epoch: UInt64 = 0
    }

    let state = Mutex(State())
    let raise: @Sendable () -> Void
    /// Told once per reset cycle which error set DEVICE_NEEDS_RESET (the machine logs it).
    let onDeviceError: (@Sendable (VirtioDeviceError) -> Void)?

    init(raise: @escaping @Sendable () -> Void, onDeviceError: (@Sendable (VirtioDeviceError) -> Void)? = nil) {
        self.raise = raise
        self.onDeviceError = onDeviceError
    }

    var epoch: UInt64 { state.withLock { $0.epoch } }

    /// Sets `bits` in InterruptStatus if `epoch` is current, then raises the line (outside the
    /// lock: the irqfd write must not run under it).
    private func signal(epoch: UInt64, _ update: (inout State) -> Bool) {
        let fire = state.withLock { s in s.epoch == epoch && update(&s) }
        if fire { raise() }
    }

    func usedBuffer(epoch: UInt64) {
        signal(epoch: epoch) { s in
            s.interruptStatus |= VirtioMMIOInterruptBits.usedBuffer
            return true
        }
    }

    func configChange(epoch: UInt64) {
        signal(epoch: epoch) { s in
            s.configGeneration &+= 1
            s.interruptStatus |= VirtioMMIOInterruptBits.configChange
            return true
        }
    }

    /// The first error wins and raises one configuration interrupt (2.1.2); later ones are
    /// already covered by the pending reset.
    func needsReset(epoch: UInt64, _ error: VirtioDeviceError) {
        var first = false
        signal(epoch: epoch) { s in
            guard !s.needsReset else { return false }
            s.needsReset = true
            s.lastError = error
            s.interruptStatus |= VirtioMMIOInterruptBits.configChange
            first = true
            return true
        }
        if first { onDeviceError?(error) }
    }

    func acknowledge(_ bits: UInt32) {
        state.withLock { $0.interruptStatus &= ~bits }
    }

    /// Device reset: a new epoch invalidates every handle given out before.
    func reset() {
        state.withLock { s in
            s.epoch &+= 1
            s.interruptStatus = 0
            s.needsReset = false
            s.lastError = nil
        }
    }
}

/// The handle a device receives at activation.
struct VirtioMMIOInterrupt: VirtioInterrupt {
    let state: VirtioMMIOInterruptState
    let epoch: UInt64

    func signalUsedBuffer() { state.usedBuffer(epoch: epoch) }
    func signalConfigChange() { state.configChange(epoch: epoch) }
    func deviceNeedsReset(_ error: VirtioDeviceError) { state.needsReset(epoch: epoch, error) }
}
