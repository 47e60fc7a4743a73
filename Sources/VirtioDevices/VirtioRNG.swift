// virtio-rng, the entropy device (virtio 1.2, 5.4): one request queue, no config space, no
// device features. Each device-writable buffer the driver posts is filled from getrandom(2).
import GuestMemory
import CKVM
import Glibc
import Synchronization

public final class VirtioRNG: VirtioDevice, Sendable {
    /// Bytes served per chain at most: bounds the host allocation a guest can ask for
    /// (Linux posts at most a page or so per request).
    public static let maxBytesPerRequest: UInt64 = 64 * 1024

    /// Fills the buffer completely or returns false. Replaceable for tests.
    public typealias EntropySource = @Sendable (inout [UInt8]) -> Bool

    private let activation = SingleQueueActivation()
    private let source: EntropySource
    public let queueMaxSize: UInt16

    public init(queueMaxSize: UInt16 = 256, source: @escaping EntropySource = VirtioRNG.getrandom) {
        self.queueMaxSize = queueMaxSize
        self.source = source
    }

    public var deviceID: VirtioDeviceID { .entropy }
    public var deviceFeatures: UInt64 { 0 }
    public var queueMaxSizes: [UInt16] { [queueMaxSize] }

    public func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        try activation.activate(memory: memory, queues: queues, interrupt: interrupt)
    }

    public func reset() {
        activation.reset()
    }

    public func queueNotified(index: Int) throws(VirtioDeviceError) {
        try activation.notified(index: index) { (chain, memory) throws(VirtqueueError) in try serve(chain, memory: memory) }
    }

    /// Fills the chain's writable buffers; returns the byte count for the used ring. Readable
    /// buffers are ignored (the driver has nothing to send this device).
    private func serve(_ chain: DescriptorChain, memory: GuestMemoryMap) throws(VirtqueueError) -> UInt32 {
        let length = Int(min(chain.writableLength, Self.maxBytesPerRequest))
        guard length > 0 else { return 0 }
        var bytes = [UInt8](repeating: 0, count: length)
        // No entropy: return the buffer unfilled (length 0) rather than hand out zeros.
        guard source(&bytes) else { return 0 }
        do {
            return UInt32(try chain.scatterWritable(bytes, into: memory))
        } catch {
            throw .memory(error)
        }
    }

    /// getrandom(2) from the urandom pool, looping over short reads and EINTR.
    @Sendable public static func getrandom(_ buffer: inout [UInt8]) -> Bool {
        var filled = 0
        while filled < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                // Sound: the pointer and remaining length stay inside the array's storage.
                return ckvm_sys_getrandom(base + filled, raw.count - filled)
            }
            if n > 0 {
                filled += n
            } else if n == -Int(EINTR) {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
