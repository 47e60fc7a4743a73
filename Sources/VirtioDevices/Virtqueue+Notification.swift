// Notification suppression in both directions (virtio 1.2, 2.7.7 and 2.7.10):
// - device → driver (interrupts): VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the driver's
//   used_event (the last field of the avail ring);
// - driver → device (kicks): VIRTQ_USED_F_NO_NOTIFY, or with EVENT_IDX the device's avail_event
//   (the last field of the used ring).
import GuestMemory
import Synchronization

extension Virtqueue {
    /// vring_need_event (2.7.10): true when `event` lies in the window (old, new] of used indices
    /// published since the last interrupt, all compared modulo 2^16.
    public static func needsEvent(event: UInt16, new: UInt16, old: UInt16) -> Bool {
        (new &- event &- 1) < (new &- old)
    }

    /// Whether the driver wants an interrupt for the used entries added since the last call.
    /// Call after a batch of `addUsed`; a true result means "signal the used-buffer interrupt".
    public mutating func needsNotification() throws(VirtqueueError) -> Bool {
        guard config.ready, !isBroken else { return false }
        return try guarded { (queue) throws(VirtqueueError) -> Bool in
            let memory = queue.memory
            if queue.eventIndex {
                // The used idx store (release) must be ordered before the used_event load: a
                // store→load order needs a full fence, or driver and device can both miss the
                // other's update and the interrupt is lost (Linux's virtio_mb in the same place).
                atomicMemoryFence(ordering: .sequentiallyConsistent)
                let at = queue.usedEventAddress
                let usedEvent = try Self.accessing { () throws(GuestMemoryError) in
                    try memory.atomicLoadUInt16(at: Self.address(at))
                }
                let new = queue.nextUsedIndex
                let old = queue.signalledUsed
                queue.signalledUsed = new
                // First decision since activation: no window yet, so signal.
                guard let old else { return true }
                return Self.needsEvent(event: usedEvent, new: new, old: old)
            }
            atomicMemoryFence(ordering: .sequentiallyConsistent)
            let at = queue.config.availableRing
            let flags = try Self.accessing { () throws(GuestMemoryError) in
                try memory.atomicLoadUInt16(at: at)
            }
            return flags & Self.availNoInterrupt == 0
        }
    }

    /// Asks the driver not to kick while the device drains the queue (a hint, 2.7.7).
    public mutating func disableNotification() throws(VirtqueueError) {
        guard config.ready, !isBroken else { return }
        // With EVENT_IDX there is nothing to write: the driver kicks only when it crosses
        // avail_event, and the device simply does not advance avail_event while draining.
        guard !eventIndex else { return }
        try setUsedFlags(Self.usedNoNotify)
    }

    /// Re-arms driver kicks. Returns true when the driver published more chains meanwhile, in
    /// which case the caller must drain again (the kick for them may already have been skipped):
    /// `repeat { disable; drain } while try queue.enableNotification()`.
    public mutating func enableNotification() throws(VirtqueueError) -> Bool {
        guard config.ready, !isBroken else { return false }
        if eventIndex {
            // avail_event = last consumed index: "kick me when you publish past here".
            let at = availEventAddress
            let value = lastAvailIndex
            let memory = self.memory
            try guarded { (_) throws(VirtqueueError) in
                try Self.accessing { () throws(GuestMemoryError) in
                    try memory.atomicStoreUInt16(value, at: Self.address(at))
                }
            }
        } else {
            try setUsedFlags(0)
        }
        // Store (flag / avail_event) → load (avail idx) again needs a full fence.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let availIdx = try guarded { (queue) throws(VirtqueueError) -> UInt16 in try queue.availableIndex() }
        return availIdx != lastAvailIndex
    }

    private mutating func setUsedFlags(_ flags: UInt16) throws(VirtqueueError) {
        let at = config.usedRing
        let memory = self.memory
        try guarded { (_) throws(VirtqueueError) in
            try Self.accessing { () throws(GuestMemoryError) in try memory.atomicStoreUInt16(flags, at: at) }
        }
    }
}

extension DescriptorChain {
    /// Copies the readable buffers, in order, into one array of at most `maxLength` bytes. The cap
    /// is the device's, so a guest cannot make the VMM allocate more than it chose to.
    public func gatherReadable(from memory: GuestMemoryMap, maxLength: Int) throws(GuestMemoryError) -> [UInt8] {
        var bytes: [UInt8] = []
        var remaining = max(0, maxLength)
        for range in readable where remaining > 0 {
            let count = Int(min(range.length, UInt64(remaining)))
            bytes += try memory.read(count: count, at: range.start)
            remaining -= count
        }
        return bytes
    }

    /// Copies `bytes` into the writable buffers in order, skipping the first `offset` writable
    /// bytes; returns how many bytes were written (less than `bytes.count` when the buffers are
    /// shorter).
    public func scatterWritable(_ bytes: [UInt8], into memory: GuestMemoryMap, offset: UInt64 = 0) throws(GuestMemoryError) -> Int {
        var skip = offset
        var written = 0
        for range in writable where written < bytes.count {
            if skip >= range.length {
                skip -= range.length
                continue
            }
            let room = range.length - skip
            let count = Int(min(room, UInt64(bytes.count - written)))
            // start + skip < start + length, which GuestRange guaranteed does not wrap.
            guard let at = range.start.adding(skip) else { break }
            try memory.write(Array(bytes[written..<(written + count)]), at: at)
            written += count
            skip = 0
        }
        return written
    }
}
