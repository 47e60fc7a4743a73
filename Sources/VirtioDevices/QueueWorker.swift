// The request loop every single-queue device runs on a notification: pop each available chain,
// serve it, publish it as used, re-arm notifications and check again (so a chain the driver adds
// while the device is re-arming is not missed), then say whether the driver wants an interrupt.
// Also the activation state those devices share (SingleQueueActivation).
import GuestMemory
import Synchronization

extension Virtqueue {
    /// Serves every available chain with `serve` (which returns the used length). Returns true when
    /// at least one chain was used and the suppression rules ask for an interrupt.
    mutating func serveAll(_ serve: (DescriptorChain) throws(VirtqueueError) -> UInt32) throws(VirtqueueError) -> Bool {
        var added = false
        repeat {
            try disableNotification()
            while let chain = try popAvailable() {
                let written = try serve(chain)
                try addUsed(head: chain.head, length: written)
                added = true
            }
        } while try enableNotification()
        return added ? try needsNotification() : false
    }
}

/// The activation state of a device with one request queue (blk, rng): the queue, the memory it
/// lives in and the interrupt handle, swapped in at DRIVER_OK and dropped at reset. `serve` runs
/// every available chain under the lock; the used-buffer interrupt is raised after it is released.
final class SingleQueueActivation: Sendable {
    struct Active {
        var memory: GuestMemoryMap
        var queue: Virtqueue
        var interrupt: any VirtioInterrupt
    }

    private let active = Mutex<Active?>(nil)

    func activate(memory: GuestMemoryMap, queues: [Virtqueue], interrupt: any VirtioInterrupt) throws(VirtioDeviceError) {
        guard let queue = queues.first else { throw .invalidQueueIndex(0) }
        active.withLock { $0 = Active(memory: memory, queue: queue, interrupt: interrupt) }
    }

    func reset() {
        active.withLock { $0 = nil }
    }

    /// A kick for queue `index`: serves every chain with `serve(chain, memory)` (which returns the
    /// used length); a malformed ring becomes `.queue(index: 0, ...)`.
    func notified(index: Int, serve: (DescriptorChain, GuestMemoryMap) throws(VirtqueueError) -> UInt32) throws(VirtioDeviceError) {
        guard index == 0 else { throw .invalidQueueIndex(index) }
        // Signalled after the lock is released: the interrupt path must not run under it.
        let (signal, interrupt) = try active.withLock { (a) throws(VirtioDeviceError) -> (Bool, (any VirtioInterrupt)?) in
            guard var current = a else { return (false, nil) }
            defer { a = current }
            do throws(VirtqueueError) {
                let memory = current.memory
                let notify = try current.queue.serveAll { (chain) throws(VirtqueueError) in try serve(chain, memory) }
                return (notify, current.interrupt)
            } catch {
                throw .queue(index: 0, error)
            }
        }
        if signal { interrupt?.signalUsedBuffer() }
    }
}
