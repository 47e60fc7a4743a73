// virtio-net against a scripted backend and a scripted driver: features, config space, receive
// (single and mergeable buffers, back-pressure without drops), transmit, and hostile chains.
import GuestMemory
import Testing
import VirtioDevices

@Suite("virtio-net: features and config")
struct VirtioNetFeatureTests {
    @Test func offersOnlyTheOffloadsTheBackendPerforms() throws {
        let plain = try NetHarness(backend: FakeNetBackend())
        let base = VirtioNetFeature.mac | VirtioNetFeature.status | VirtioNetFeature.mergeableRxBuffers
        #expect(plain.device.deviceFeatures == base)

        let full = try NetHarness(backend: FakeNetBackend(transmit: .all, receive: .all))
        let offloads: UInt64 = VirtioNetFeature.csum | VirtioNetFeature.hostTSO4 | VirtioNetFeature.hostTSO6
            | VirtioNetFeature.hostECN | VirtioNetFeature.guestCsum | VirtioNetFeature.guestTSO4
            | VirtioNetFeature.guestTSO6 | VirtioNetFeature.guestECN
        #expect(full.device.deviceFeatures == base | offloads)

        // Checksum without segmentation on receive; nothing on transmit.
        let partial = try NetHarness(backend: FakeNetBackend(receive: [.checksum, .tsoECN]))
        #expect(partial.device.deviceFeatures == base | VirtioNetFeature.guestCsum, "ECN needs TSO, TSO needs CSUM")
        #expect(partial.device.deviceFeatures & (VirtioNetFeature.hostUFO | VirtioNetFeature.guestUFO) == 0)

        // A driver cannot take what was not offered: FEATURES_OK is refused.
        #expect(!plain.bringUp(VirtioNetFeature.guestCsum))
    }

    @Test func negotiatedGuestOffloadsReachTheBackendAndResetClearsThem() throws {
        let h = try NetHarness(backend: FakeNetBackend(transmit: .all, receive: .all))
        #expect(h.bringUp(VirtioNetFeature.guestCsum | VirtioNetFeature.guestTSO4 | VirtioNetFeature.mac))
        #expect(h.backend.offloadCalls.last == [.checksum, .tso4], "bring-up resets first, then negotiates")
        h.transport.write(offset: 0x70, size: 4, value: 0)   // driver resets the device
        #expect(h.backend.offloadCalls.last == [])
        // A driver that takes none gets finished frames only.
        #expect(h.bringUp(VirtioNetFeature.mac))
        #expect(h.backend.offloadCalls.last == [])
    }

    @Test func configSpaceHoldsMACLinkUpOnePairAndMTU() throws {
        let h = try NetHarness(mtu: 1400)
        let mac = (0..<6).map { UInt8(h.transport.read(offset: 0x100 + UInt64($0), size: 1)) }
        #expect(mac == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        #expect(h.transport.read(offset: 0x106, size: 2) == 1, "VIRTIO_NET_S_LINK_UP")
        #expect(h.transport.read(offset: 0x108, size: 2) == 1, "max_virtqueue_pairs")
        #expect(h.transport.read(offset: 0x10a, size: 2) == 1400)
        #expect(h.device.deviceFeatures & VirtioNetFeature.mtu != 0)
        #expect(try NetHarness().device.deviceFeatures & VirtioNetFeature.mtu == 0)
        #expect(h.transport.read(offset: 0x100 + 12, size: 1) == 0, "nothing past the config space")
    }

    @Test func macAddressesParseAndGenerateLocallyAdministered() {
        #expect(MACAddress("52:54:00:AB:cd:0f")?.bytes == [0x52, 0x54, 0, 0xab, 0xcd, 0x0f])
        #expect(MACAddress("52:54:00:ab:cd")  == nil)
        #expect(MACAddress("01:00:5e:00:00:01") == nil, "multicast")
        #expect(MACAddress("52:54:00:ab:cd:zz") == nil)
        let random = MACAddress.random()
        #expect(random.bytes.prefix(3) == [0x52, 0x54, 0x00] && random.bytes[0] & 2 != 0)
        #expect(MACAddress(random.description) == random)
    }
}

@Suite("virtio-net: receive")
struct VirtioNetReceiveTests {
    @Test func oneFrameInOneBufferWithNumBuffersOne() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        let (head, addresses) = try h.postRx([2048])
        let payload = netPattern(100)
        h.backend.queue(netFrame(payload, header: VirtioNetHeader(flags: VirtioNetHeader.dataValid)))
        h.device.backendReadable()
        #expect(try h.rx.usedIdx() == 1)
        #expect(try h.rx.usedElement(0) == (UInt32(head), 112))
        let written = try h.memory.read(count: 112, at: GuestAddress(addresses[0]))
        #expect(VirtioNetHeader(written) == VirtioNetHeader(numBuffers: 1), "DATA_VALID cleared without GUEST_CSUM")
        #expect(Array(written[12...]) == payload)
        #expect(h.raised.count == 1)
        #expect(h.device.statistics.receivedFrames == 1 && h.device.statistics.receivedBytes == 100)
        #expect(h.interest.values == [false, true], "reads start with the driver")
    }

    @Test func mergeableBuffersCarryOneFrameAcrossChainsPublishedTogether() throws {
        var h = try NetHarness(backend: FakeNetBackend(receive: .all))
        #expect(h.bringUp(VirtioNetFeature.mergeableRxBuffers | VirtioNetFeature.guestCsum))
        let chains = try (0..<4).map { _ in try h.postRx([64]) }
        let header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, checksumStart: 34, checksumOffset: 16)
        let payload = netPattern(150, seed: 7)
        h.backend.queue(netFrame(payload, header: header))
        h.device.backendReadable()
        #expect(try h.rx.usedIdx() == 3)
        #expect(try (0..<3).map { try h.rx.usedElement($0).length } == [64, 64, 34])
        #expect(try (0..<3).map { try h.rx.usedElement($0).id } == chains.prefix(3).map { UInt32($0.head) })
        var got: [UInt8] = []
        for (i, length) in [64, 64, 34].enumerated() {
            got += try h.memory.read(count: length, at: GuestAddress(chains[i].addresses[0]))
        }
        var expected = header
        expected.numBuffers = 3
        #expect(VirtioNetHeader(got) == expected, "the driver's offload flags survive, num_buffers = 3")
        #expect(Array(got[12...]) == payload)
        // The fourth chain is kept for the next frame.
        h.backend.queue(netFrame([1, 2, 3]))
        h.device.backendReadable()
        #expect(try h.rx.usedElement(3) == (UInt32(chains[3].head), 15))
    }

    @Test func noBuffersStallsReadsWithoutDroppingAndAKickResumes() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mergeableRxBuffers | VirtioFeature.eventIndex))
        try h.postRx([256])
        let frames = (0..<3).map { netFrame(netPattern(40, seed: UInt8($0))) }
        frames.forEach(h.backend.queue)
        h.device.backendReadable()
        // One delivered, the second read and kept, the third still in the backend.
        #expect(try h.rx.usedIdx() == 1)
        #expect(h.backend.waiting == 1)
        #expect(!h.device.wantsBackendReadable && h.interest.values == [false, true, false])
        #expect(try h.rx.availEvent() == 1, "EVENT_IDX: the driver's next publish kicks")
        let reads = h.backend.reads
        h.device.backendReadable()   // a stale wake-up must not read more
        #expect(h.backend.reads == reads && h.backend.waiting == 1)

        try h.postRx([256])
        try h.postRx([256])
        h.transport.notify(queue: 0)
        #expect(try h.rx.usedIdx() == 3)
        #expect(h.backend.waiting == 0)
        #expect(h.device.wantsBackendReadable && h.interest.values.last == true)
        let s = h.device.statistics
        #expect(s.receivedFrames == 3 && s.receiveDroppedTooBig == 0 && s.receiveDroppedUnsupported == 0)
        for slot: UInt16 in 0..<3 {
            let address = NetHarness.buffers + 256 * UInt64(slot)
            #expect(try Array(h.memory.read(count: 52, at: GuestAddress(address))[12...]) == Array(frames[Int(slot)][12...]))
        }
        #expect(!h.needsReset)
    }

    @Test func aMergeableFrameWaitsForEnoughBuffers() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mergeableRxBuffers))
        try h.postRx([64])
        h.backend.queue(netFrame(netPattern(200)))
        h.device.backendReadable()
        #expect(try h.rx.usedIdx() == 0, "nothing is published until the whole frame fits")
        for _ in 0..<3 { try h.postRx([64]) }
        h.transport.notify(queue: 0)
        #expect(try h.rx.usedIdx() == 4)
        #expect(try h.memory.read(count: 12, at: GuestAddress(NetHarness.buffers))[10] == 4, "num_buffers")
    }

    @Test func framesTooBigForTheNegotiatedSetupAreCountedAndLogged() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))   // no MRG_RXBUF: one chain per frame
        let (head, _) = try h.postRx([100])
        h.backend.queue(netFrame(netPattern(500)))
        h.backend.queue(netFrame(netPattern(50)))
        h.device.backendReadable()
        #expect(h.device.statistics.receiveDroppedTooBig == 1)
        #expect(h.log.all.contains { $0.contains("dropped an RX frame of 512 bytes") })
        #expect(try h.rx.usedIdx() == 1, "the buffer went to the frame that fits")
        #expect(try h.rx.usedElement(0) == (UInt32(head), 62))
    }

    @Test func offloadsTheDriverRefusedAreDropped() throws {
        var h = try NetHarness(backend: FakeNetBackend(receive: .all))
        #expect(h.bringUp(VirtioNetFeature.mergeableRxBuffers | VirtioNetFeature.guestCsum))
        try h.postRx([4096])
        h.backend.queue(netFrame(netPattern(3000), header: VirtioNetHeader(flags: 1, gsoType: VirtioNetHeader.gsoTCPv4,
                                                                          headerLength: 54, gsoSize: 1448)))
        h.device.backendReadable()
        #expect(h.device.statistics.receiveDroppedUnsupported == 1)
        #expect(try h.rx.usedIdx() == 0)
    }

    @Test func resetCountsTheWaitingFrameAndStopsReads() throws {
        let h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        h.backend.queue(netFrame([1]))
        h.device.backendReadable()
        h.transport.write(offset: 0x70, size: 4, value: 0)
        #expect(h.device.statistics.receiveDroppedByReset == 1)
        #expect(!h.device.wantsBackendReadable)
        h.backend.queue(netFrame([2]))
        let reads = h.backend.reads
        h.device.backendReadable()
        #expect(h.backend.reads == reads, "an inactive device reads nothing")
    }
}

@Suite("virtio-net: transmit")
struct VirtioNetTransmitTests {
    @Test func headerAndFrameReachTheBackend() throws {
        var h = try NetHarness(backend: FakeNetBackend(transmit: .all))
        #expect(h.bringUp(VirtioNetFeature.csum))
        let header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, checksumStart: 34, checksumOffset: 6).bytes
        let frame = netPattern(60)
        try h.postTx([header, Array(frame[0..<20]), Array(frame[20...])])
        h.transport.notify(queue: 1)
        #expect(h.backend.sent == [header + frame])
        #expect(try h.tx.usedIdx() == 1 && h.tx.usedElement(0) == (0, 0))
        #expect(h.raised.count == 1)
        #expect(h.device.statistics.transmittedFrames == 1 && h.device.statistics.transmittedBytes == 60)
    }

    @Test func oversizedShortAndUnnegotiatedChainsAreRejectedAndTheQueueGoesOn() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        try h.postTx([[UInt8](repeating: 0, count: VirtioNetHeader.size + VirtioNet.maxFrameLength + 1)], head: 0)
        try h.postTx([[0, 0, 0]], head: 1, at: 0x80000)
        try h.postTx([VirtioNetHeader(flags: VirtioNetHeader.needsChecksum).bytes + netPattern(20)], head: 2, at: 0x81000)
        try h.postTx([VirtioNetHeader().bytes + netPattern(20)], head: 3, at: 0x82000)
        h.transport.notify(queue: 1)
        #expect(h.backend.sent == [VirtioNetHeader().bytes + netPattern(20)])
        #expect(try h.tx.usedIdx() == 4)
        #expect(h.device.statistics.transmitInvalid == 3)
        #expect(!h.needsReset)
    }

    @Test func backendWriteErrorsAreCountedNotFatal() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        h.backend.failSends(.system(.write, errno: 11))   // EAGAIN
        try h.postTx([VirtioNetHeader().bytes + netPattern(30)], head: 0)
        h.transport.notify(queue: 1)
        #expect(try h.tx.usedIdx() == 1)
        #expect(h.device.statistics.transmitBackendErrors == 1)
        h.backend.failSends(nil)
        try h.postTx([VirtioNetHeader().bytes + netPattern(30)], head: 1, at: 0x70000)
        h.transport.notify(queue: 1)
        #expect(h.backend.sent.count == 1 && !h.needsReset)
    }
}

@Suite("virtio-net: hostile driver")
struct VirtioNetHostileTests {
    @Test func anRXBufferOutsideMemoryNeedsResetAndStopsReads() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        try h.rx.setDescriptor(0, address: TestDriver.memorySize - 16, length: 4096, flags: 2)
        try h.rx.publish(0)
        h.backend.queue(netFrame([1, 2, 3]))
        h.device.backendReadable()
        #expect(h.needsReset)
        #expect(!h.device.wantsBackendReadable)
        #expect(try h.rx.usedIdx() == 0)
    }

    @Test func aTXDescriptorLoopNeedsResetAndSendsNothing() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mac))
        try h.tx.setDescriptor(0, address: 0x60000, length: 20, flags: 1, next: 1)
        try h.tx.setDescriptor(1, address: 0x60000, length: 20, flags: 1, next: 0)
        try h.tx.publish(0)
        h.transport.notify(queue: 1)
        #expect(h.needsReset)
        #expect(h.backend.sent.isEmpty)
    }

    @Test func tinyAndWriteOnlyDescriptorsNeverTrap() throws {
        var h = try NetHarness()
        #expect(h.bringUp(VirtioNetFeature.mergeableRxBuffers))
        // RX chains too short for the header are handed back; a readable RX descriptor is ignored.
        try h.postRx([4])
        try h.rx.setDescriptor(5, address: 0x30000, length: 64, flags: 0)
        try h.rx.publish(5)
        h.backend.queue(netFrame([9, 9]))
        h.device.backendReadable()
        #expect(try h.rx.usedElement(0).length == 0)
        #expect(h.device.statistics.receiveShortBuffers == 2)
        // A TX chain of only writable buffers has no frame.
        try h.tx.setDescriptor(0, address: 0x60000, length: 64, flags: 2)
        try h.tx.publish(0)
        h.transport.notify(queue: 1)
        #expect(h.device.statistics.transmitInvalid == 1 && h.backend.sent.isEmpty && !h.needsReset)
    }
}
