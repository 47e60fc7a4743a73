// virtio-net receive (5.1.6.3, 5.1.6.4): frames from the backend into the guest's RX buffers.
// With MRG_RXBUF a frame spreads over as many chains as it needs and num_buffers says how many;
// those chains are published together so the driver never sees part of a frame. Without it, one
// chain must hold the whole frame and num_buffers is 1.
import GuestMemory

extension VirtioNet {
    enum Delivery {
        case delivered
        case dropped
        /// Not enough RX buffers posted yet: keep the frame and wait for the driver.
        case needBuffers
    }

    /// The event loop saw the backend readable: move frames until the backend is empty, the budget
    /// is spent, or the guest runs out of buffers (then reads pause until the next RX kick).
    public func backendReadable() {
        let (signal, interrupt, failure) = state.withLock { s in receive(&s) }
        if let failure, let interrupt { interrupt.deviceNeedsReset(failure) }
        if signal { interrupt?.signalUsedBuffer() }
    }

    /// The driver posted RX buffers: a waiting frame may fit now, and backend reads resume.
    func receiveKicked() {
        let (signal, interrupt, failure) = state.withLock { s -> (Bool, (any VirtioInterrupt)?, VirtioDeviceError?) in
            guard s.active != nil else { return (false, nil, nil) }
            s.active?.waitingForBuffers = false
            return receive(&s)
        }
        if let failure, let interrupt { interrupt.deviceNeedsReset(failure) }
        if signal { interrupt?.signalUsedBuffer() }
    }

    /// Returns whether to signal the used-buffer interrupt, the handle to use, and a queue error
    /// (the RX queue is then broken and reads stay paused until the driver resets the device).
    private func receive(_ s: inout State) -> (Bool, (any VirtioInterrupt)?, VirtioDeviceError?) {
        guard var active = s.active else {
            setInterest(false, &s)
            return (false, nil, nil)
        }
        defer { s.active = active }
        if active.waitingForBuffers { setInterest(false, &s); return (false, nil, nil) }
        let features = s.features
        var delivered = false
        var backendFailed = false
        do throws(VirtqueueError) {
            var budget = Self.receiveBudget
            while budget > 0 {
                if s.pending == nil {
                    if s.scratch.count != VirtioNetHeader.size + Self.maxFrameLength {
                        s.scratch = [UInt8](repeating: 0, count: VirtioNetHeader.size + Self.maxFrameLength)
                    }
                    switch backend.receive(into: &s.scratch) {
                    case .empty:   // drained: wait for the next readability
                        budget = 0
                        continue
                    case let .failed(error):
                        // A broken backend would make a level-triggered loop spin: pause reads until
                        // the driver's next RX kick tries again.
                        s.statistics.receiveBackendErrors += 1
                        logCounted(s.statistics.receiveBackendErrors, "backend read failed: \(error)")
                        backendFailed = true
                        budget = 0
                        continue
                    case let .frame(length):
                        s.pending = Array(s.scratch[0..<min(max(length, 0), s.scratch.count)])
                    }
                }
                guard let frame = s.pending else { break }
                switch try deliver(frame, to: &active, features: features, stats: &s.statistics) {
                case .delivered:
                    s.pending = nil
                    delivered = true
                    budget -= 1
                case .dropped:
                    s.pending = nil
                    budget -= 1
                case .needBuffers:
                    // Re-arm kicks first, then look again: buffers posted in between would
                    // otherwise come with no kick (2.7.7 / 2.7.10).
                    if try active.rx.enableNotification() { continue }
                    active.waitingForBuffers = true
                    setInterest(false, &s)
                    budget = 0
                }
            }
            setInterest(!backendFailed && !active.waitingForBuffers && s.pending == nil, &s)
            let notify = delivered ? try active.rx.needsNotification() : false
            return (notify, active.interrupt, nil)
        } catch {
            setInterest(false, &s)
            return (delivered, active.interrupt, .queue(index: Self.receiveQueue, error))
        }
    }

    /// Puts one frame (backend header included) into RX chains.
    private func deliver(_ frame: [UInt8], to active: inout Active, features: UInt64,
                         stats: inout NetStatistics) throws(VirtqueueError) -> Delivery {
        guard var header = VirtioNetHeader(frame) else {
            stats.receiveBackendErrors += 1
            logCounted(stats.receiveBackendErrors, "backend delivered \(frame.count) bytes, less than a header")
            return .dropped
        }
        guard frame.count <= VirtioNetHeader.size + Self.maxFrameLength else { return dropTooBig(frame.count, &stats) }
        guard header.isAllowedForReceive(features: features) else {
            stats.receiveDroppedUnsupported += 1
            logCounted(stats.receiveDroppedUnsupported,
                       "dropped an RX frame with offload flags 0x\(String(header.flags, radix: 16)) gso \(header.gsoType) the driver did not accept")
            return .dropped
        }
        // DATA_VALID is a promise only a driver with GUEST_CSUM may be given (5.1.6.4.1).
        if features & VirtioNetFeature.guestCsum == 0 { header.flags = 0 }
        let mergeable = features & VirtioNetFeature.mergeableRxBuffers != 0

        // Collect chains until the frame fits (one chain without MRG_RXBUF).
        var used: [(chain: DescriptorChain, bytes: Int)] = []
        var remaining = frame.count
        var index = 0
        guard active.rx.isReady else { return .needBuffers }
        while remaining > 0 {
            if index == active.held.count {
                guard active.held.count < Int(active.rx.size) else { return dropTooBig(frame.count, &stats) }
                guard let chain = try active.rx.popAvailable() else { return .needBuffers }
                active.held.append(chain)
            }
            let chain = active.held[index]
            let room = chain.writableLength
            if room < UInt64(VirtioNetHeader.size) && used.isEmpty {
                // A buffer that cannot hold even the header: give it back unused (the driver counts
                // a length error and refills) and try the next one.
                active.held.remove(at: index)
                try active.rx.addUsed(head: chain.head, length: 0)
                stats.receiveShortBuffers += 1
                logCounted(stats.receiveShortBuffers, "returned an RX buffer of \(room) bytes, too short for the header")
                continue
            }
            if !mergeable {
                guard room >= UInt64(frame.count) else { return dropTooBig(frame.count, &stats) }
            }
            let take = Int(min(room, UInt64(remaining)))
            used.append((chain, take))
            remaining -= take
            index += 1
        }

        header.numBuffers = UInt16(used.count)
        var bytes = frame
        bytes.replaceSubrange(0..<VirtioNetHeader.size, with: header.bytes)
        var offset = 0
        for (chain, count) in used {
            do {
                _ = try chain.scatterWritable(Array(bytes[offset..<(offset + count)]), into: active.memory)
            } catch { throw .memory(error) }
            offset += count
        }
        active.held.removeFirst(used.count)
        try active.rx.addUsed(used.map { (head: $0.chain.head, length: UInt32($0.bytes)) })
        stats.receivedFrames += 1
        stats.receivedBytes += UInt64(frame.count - VirtioNetHeader.size)
        return .delivered
    }

    private func dropTooBig(_ length: Int, _ stats: inout NetStatistics) -> Delivery {
        stats.receiveDroppedTooBig += 1
        logCounted(stats.receiveDroppedTooBig, "dropped an RX frame of \(length) bytes: larger than the buffers the driver posts")
        return .dropped
    }
}
