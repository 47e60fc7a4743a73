// The device side of virtio, independent of the transport (virtio 1.2, 2 and 3): what a device
// offers (ID, features, config space, queues) and what a transport does with it (activate at
// DRIVER_OK, forward queue notifications, reset). virtio-mmio is one transport; PCI could be another.
import GuestMemory

/// Errors a device reports while serving the guest. Each one is a guest (or backend) failure the
/// VMM survives: the transport sets DEVICE_NEEDS_RESET and raises a configuration interrupt.
public enum VirtioDeviceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The guest broke queue `index` (malformed ring or chain).
    case queue(index: Int, VirtqueueError)
    /// A notification for a queue the device does not have.
    case invalidQueueIndex(Int)
    /// A guest-memory access to a validated buffer failed.
    case memory(GuestMemoryError)
    /// The host-side backend failed in a way the device cannot report per request.
    case backend(String)

    public var description: String {
        switch self {
        case let .queue(index, error): "queue \(index): \(error)"
        case let .invalidQueueIndex(index): "notification for unknown queue \(index)"
        case let .memory(error): "guest memory: \(error)"
        case let .backend(message): "backend: \(message)"
        }
    }
}

/// What a device uses to reach the driver. The transport supplies it at activation; it stays
/// valid until the next reset, after which it silently drops signals from a stale activation.
public protocol VirtioInterrupt: Sendable {
    /// The device put buffers in a used ring (and the queue's suppression rules asked for it).
    func signalUsedBuffer()
    /// The device changed its configuration space (the transport bumps ConfigGeneration).
    func signalConfigChange()
    /// The device hit an error it cannot recover from without a reset, e.g. from a backend
    /// thread: the transport sets DEVICE_NEEDS_RESET and raises a configuration interrupt.
    func deviceNeedsReset(_ error: VirtioDeviceError)
}

/// A virtio device. Configuration accesses come from vCPU threads, notifications from the event
/// loop (or a vCPU when no ioeventfd is used), so implementations are thread-safe.
public protocol VirtioDevice: AnyObject, Sendable {
    var deviceID: VirtioDeviceID { get }
    /// Device-type feature bits (bits 0–23 and any device-specific ones). The transport adds the
    /// transport bits it implements (VERSION_1, INDIRECT_DESC, EVENT_IDX).
    var deviceFeatures: UInt64 { get }
    /// Maximum size of each queue; the count is the number of queues.
    var queueMaxSizes: [UInt16] { get }
    /// Size in bytes of the device-specific configuration space.
    var configSize: Int { get }
    /// Reads `size` (1, 2, 4 or 8) bytes at `offset`, little-endian. The transport has checked
    /// that `offset + size <= configSize`.
    func readConfig(offset: Int, size: Int) -> UInt64
    /// Writes `size` bytes at `offset` (already bounds-checked). Read-only fields ignore writes.
    func writeConfig(offset: Int, size: Int, value: UInt64)
    /// The driver accepted these features (FEATURES_OK was granted). Called before `activate`.
    func featuresNegotiated(_ features: UInt64)
    /// DRIVER_OK: the queues are validated (a queue the driver did not enable is present but not
    /// ready). Throwing marks the device as needing reset.
    func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError)
    /// The driver kicked queue `index`. Throwing marks the device as needing reset; the device
    /// should keep serving its other queues.
    func queueNotified(index: Int) throws(VirtioDeviceError)
    /// Forget the activation: drop queues, in-flight state and the interrupt handle.
    func reset()
}

extension VirtioDevice {
    public var configSize: Int { 0 }
    public func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}
    public func featuresNegotiated(_ features: UInt64) {}
}

/// Little-endian access to a config-space byte array, for devices whose config is a plain struct.
public enum VirtioConfigBytes {
    /// `size` bytes of `bytes` at `offset`; zero for anything out of range (never a trap).
    public static func read(_ bytes: [UInt8], offset: Int, size: Int) -> UInt64 {
        guard offset >= 0, size >= 0, size <= 8, offset <= bytes.count, size <= bytes.count - offset else { return 0 }
        var value: UInt64 = 0
        for i in (0..<size).reversed() { value = (value << 8) | UInt64(bytes[offset + i]) }
        return value
    }
}
