// Virtio devices (virtqueues, transports, net/blk/console/rng).
// They depend on GuestMemory only, never on KVMCore, so they run against in-process memory in tests.
import GuestMemory

/// Device IDs from the virtio 1.2 specification, section 5.
public enum VirtioDeviceID: UInt32, Sendable {
    case net = 1, block = 2, console = 3, entropy = 4
}
