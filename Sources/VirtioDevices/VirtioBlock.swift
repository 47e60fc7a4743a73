// virtio-blk (virtio 1.2, 5.2): one request queue over a BlockRequestProcessor. Each chain is
// header + OUT data/segments (device-readable), then IN data + the status byte (device-writable);
// the status goes in the last writable byte, so a guest that splits buffers oddly still gets it.
import GuestMemory
import Synchronization

public final class VirtioBlock: VirtioDevice, Sendable {
    public let processor: BlockRequestProcessor
    private let config: [UInt8]
    private let activation = SingleQueueActivation()
    public let queueMaxSize: UInt16

    public init(backend: any BlockBackend, queueMaxSize: UInt16 = 256) {
        processor = BlockRequestProcessor(backend: backend)
        config = processor.config.configBytes()
        self.queueMaxSize = queueMaxSize
    }

    public var deviceID: VirtioDeviceID { .block }
    /// BlockConfig's features include VERSION_1 (bit 32), which the transport adds itself.
    public var deviceFeatures: UInt64 { processor.config.features & ~VirtioFeature.version1 }
    public var queueMaxSizes: [UInt16] { [queueMaxSize] }
    public var configSize: Int { config.count }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        VirtioConfigBytes.read(config, offset: offset, size: size)
    }

    public func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        try activation.activate(memory: memory, queues: queues, interrupt: interrupt)
    }

    /// A reset drops the queue; data already written stays in the host page cache and is flushed on
    /// the guest's FLUSH or when the backend closes.
    public func reset() {
        activation.reset()
    }

    public func queueNotified(index: Int) throws(VirtioDeviceError) {
        try activation.notified(index: index) { (chain, memory) throws(VirtqueueError) in try serve(chain, memory: memory) }
    }

    /// Runs one request; returns the used length (bytes written to the guest, status included).
    private func serve(_ chain: DescriptorChain, memory: GuestMemoryMap) throws(VirtqueueError) -> UInt32 {
        // Bound what is copied out of the guest: a header, the largest transfer and its segments.
        let cap = BlockRequestHeader.size + processor.config.maxTransferBytes + 16 * 256
        guard chain.readableLength <= UInt64(cap), chain.writableLength <= UInt64(processor.config.maxTransferBytes + 1) else {
            // Too large to serve: answer IOERR in the status byte if there is one.
            return try writeStatus(BlockStatus.ioError.rawValue, chain: chain, memory: memory, data: [])
        }
        let request: [UInt8]
        do { request = try chain.gatherReadable(from: memory, maxLength: cap) } catch { throw .memory(error) }
        let response = processor.handle(request: request, writableCapacity: Int(chain.writableLength))
        return try writeStatus(response.status, chain: chain, memory: memory, data: response.data)
    }

    private func writeStatus(_ status: UInt8, chain: DescriptorChain, memory: GuestMemoryMap,
                             data: [UInt8]) throws(VirtqueueError) -> UInt32 {
        guard chain.writableLength >= 1 else { return 0 }   // nowhere to report: the driver sees length 0
        do {
            let dataWritten = data.isEmpty ? 0 : try chain.scatterWritable(data, into: memory)
            _ = try chain.scatterWritable([status], into: memory, offset: chain.writableLength - 1)
            return UInt32(dataWritten + 1)
        } catch {
            throw .memory(error)
        }
    }
}
