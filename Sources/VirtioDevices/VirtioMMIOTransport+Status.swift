// The device status state machine (virtio 1.2, 2.1 and 3.1.1): ACKNOWLEDGE → DRIVER →
// FEATURES_OK → DRIVER_OK, writing 0 resets. Out-of-order bits and attempts to clear single bits
// are ignored, which the driver sees when it reads the status back.
import GuestMemory

extension VirtioMMIOTransport {
    enum StatusAction {
        case none
        case negotiated(UInt64)
        case activate(features: UInt64, queues: [VirtqueueConfig], negotiatedNow: Bool)
    }

    func writeStatus(_ value: UInt32) {
        if value == 0 {
            reset()
            return
        }
        let offered = offeredFeatures
        let action: StatusAction = state.withLock { s in
            let old = s.status
            // DEVICE_NEEDS_RESET is the device's bit; a driver write of it means nothing.
            let requested = value & ~VirtioStatus.deviceNeedsReset
            guard requested & old == old else { return .none }  // only reset clears bits
            let new = requested & ~old
            var accepted = old
            var action = StatusAction.none
            if new & VirtioStatus.acknowledge != 0 { accepted |= VirtioStatus.acknowledge }
            if new & VirtioStatus.driver != 0, accepted & VirtioStatus.acknowledge != 0 {
                accepted |= VirtioStatus.driver
            }
            if new & VirtioStatus.featuresOK != 0, accepted & VirtioStatus.driver != 0,
               Self.acceptable(driver: s.driverFeatures, offered: offered) {
                // Refused otherwise: FEATURES_OK stays clear and the driver gives up (3.1.1 step 6).
                accepted |= VirtioStatus.featuresOK
                action = .negotiated(s.driverFeatures)
            }
            if new & VirtioStatus.driverOK != 0, accepted & VirtioStatus.featuresOK != 0 {
                accepted |= VirtioStatus.driverOK
                let negotiatedNow: Bool
                if case .negotiated = action { negotiatedNow = true } else { negotiatedNow = false }
                action = .activate(features: s.driverFeatures, queues: s.queues, negotiatedNow: negotiatedNow)
            }
            if new & VirtioStatus.failed != 0 { accepted |= VirtioStatus.failed }
            s.status = accepted
            return action
        }
        // Device calls happen outside the transport lock: a device may signal back into the
        // transport (needsReset, used buffer) from inside them.
        switch action {
        case .none: break
        case let .negotiated(features): device.featuresNegotiated(features)
        case let .activate(features, configs, negotiatedNow):
            if negotiatedNow { device.featuresNegotiated(features) }
            activate(features: features, configs: configs)
        }
    }

    /// FEATURES_OK is granted only for a subset of what was offered that includes VERSION_1:
    /// this transport has no legacy interface (4.2.4 is not implemented).
    static func acceptable(driver: UInt64, offered: UInt64) -> Bool {
        driver & ~offered == 0 && driver & VirtioFeature.version1 != 0
    }

    /// Validates every enabled queue, then activates the device. A queue the guest configured
    /// badly is handed over as not ready and DEVICE_NEEDS_RESET is set, so the other queues work.
    private func activate(features: UInt64, configs: [VirtqueueConfig]) {
        let epoch = interrupts.epoch
        var queues: [Virtqueue] = []
        var firstError: VirtioDeviceError?
        for (index, config) in configs.enumerated() {
            guard config.ready else {
                queues.append(Virtqueue(notReady: memory))
                continue
            }
            do {
                queues.append(try Virtqueue(memory: memory, config: config, maxSize: maxSizes[index], features: features))
            } catch {
                queues.append(Virtqueue(notReady: memory))
                if firstError == nil { firstError = .queue(index: index, error) }
            }
        }
        if let firstError { interrupts.needsReset(epoch: epoch, firstError) }
        do {
            try device.activate(memory: memory, queues: queues,
                                interrupt: VirtioMMIOInterrupt(state: interrupts, epoch: epoch))
        } catch {
            interrupts.needsReset(epoch: epoch, error)
        }
    }

    /// Status 0: back to the state after power-on (2.4), except ConfigGeneration, which keeps
    /// counting so a driver never sees an old generation again.
    public func reset() {
        state.withLock { s in
            s = State(queues: Self.initialQueues(maxSizes))
        }
        interrupts.reset()
        device.reset()
    }
}
