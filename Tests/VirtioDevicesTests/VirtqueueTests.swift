import GuestMemory
import Testing
import VirtioDevices

@Suite("Split virtqueue")
struct VirtqueueTests {
    @Test func goodChainReadableThenWritable() throws {
        var d = try TestDriver()
        try d.setDescriptor(0, address: 0x10000, length: 16, flags: 1, next: 3)
        try d.setDescriptor(3, address: 0x11000, length: 512, flags: 1 | 2, next: 5)
        try d.setDescriptor(5, address: 0x12000, length: 1, flags: 2)
        try d.publish(0)
        var q = try d.queue()
        let chain = try #require(try q.popAvailable())
        #expect(chain == DescriptorChain(head: 0, readable: [range(0x10000, 16)],
                                         writable: [range(0x11000, 512), range(0x12000, 1)]))
        #expect(try q.popAvailable() == nil)
    }

    @Test func indirectChain() throws {
        var d = try TestDriver()
        let table = GuestAddress(0x20000)
        try d.setDescriptor(0, address: 0x10000, length: 8, flags: 1, next: 1, table: table)
        try d.setDescriptor(1, address: 0x10100, length: 100, flags: 2, table: table)
        try d.setDescriptor(2, address: table.raw, length: 32, flags: 4)
        try d.publish(2)
        var q = try d.queue()
        let chain = try #require(try q.popAvailable())
        #expect(chain.head == 2)
        #expect(chain.readable == [range(0x10000, 8)])
        #expect(chain.writable == [range(0x10100, 100)])
    }

    @Test func usedRingContentsAndIndex() throws {
        var d = try TestDriver(size: 4)
        for i: UInt16 in 0..<4 { try d.setDescriptor(i, address: 0x10000, length: 4, flags: 2) }
        var q = try d.queue()
        // Wrap the 16-bit indices: 6 rounds of 4 > one ring.
        for round in 0..<6 {
            for i: UInt16 in 0..<4 { try d.publish(i) }
            for i: UInt16 in 0..<4 {
                let chain = try #require(try q.popAvailable())
                #expect(chain.head == i)
                try q.addUsed(head: chain.head, length: UInt32(round * 10) + UInt32(i))
            }
            #expect(try d.usedIdx() == UInt16(4 * (round + 1)))
            #expect(try d.usedElement(2) == (2, UInt32(round * 10 + 2)))
        }
        #expect(throws: VirtqueueError.usedHeadOutOfRange(4, size: 4)) { try q.addUsed(head: 4, length: 0) }
    }

    @Test func wrappingAvailIndex() throws {
        var d = try TestDriver(size: 4)
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 2)
        var q = try d.queue()
        // Drive the free-running indices across 65535 → 0.
        for _ in 0..<65540 {
            try d.publish(0)
            _ = try #require(try q.popAvailable())
            try q.addUsed(head: 0, length: 4)
        }
        #expect(q.lastAvailIndex == UInt16(truncatingIfNeeded: 65540))
    }

    // MARK: activation checks

    @Test(arguments: [UInt16(0), 3, 12, 512])
    func badQueueSize(size: UInt16) throws {
        let d = try TestDriver(size: size)
        #expect(throws: VirtqueueError.invalidSize(size, max: 256)) { try d.queue() }
    }

    @Test func misalignedAndOutsideRings() throws {
        let memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        var d = try TestDriver(memory: memory)
        d.desc = GuestAddress(0x1008)
        #expect(throws: VirtqueueError.misalignedRing(.descriptorTable, address: GuestAddress(0x1008))) { try d.queue() }
        d.desc = GuestAddress(0x1000); d.avail = GuestAddress(0x4001)
        #expect(throws: VirtqueueError.misalignedRing(.availableRing, address: GuestAddress(0x4001))) { try d.queue() }
        d.avail = GuestAddress(0x4000); d.used = GuestAddress(0x6002)
        #expect(throws: VirtqueueError.misalignedRing(.usedRing, address: GuestAddress(0x6002))) { try d.queue() }
        // The used ring of 8 entries needs 70 bytes; put it 64 bytes before the end of RAM.
        d.used = GuestAddress(TestDriver.memorySize - 64)
        #expect(throws: VirtqueueError.ringOutsideMemory(.usedRing, address: d.used, length: 70)) { try d.queue() }
        d.used = GuestAddress(0xffff_ffff_ffff_fff0)
        #expect(throws: VirtqueueError.ringOutsideMemory(.usedRing, address: d.used, length: 70)) { try d.queue() }
    }

    // MARK: malformed chains

    @Test func availIndexAhead() throws {
        let d = try TestDriver(size: 8)
        try d.setAvailIdx(9)
        var q = try d.queue()
        #expect(throws: VirtqueueError.availIndexAhead(availIndex: 9, lastAvail: 0, size: 8)) { try q.popAvailable() }
        // A broken queue stays quiet instead of re-parsing the same garbage.
        #expect(q.isBroken)
        #expect(try q.popAvailable() == nil)
    }

    @Test func headOutOfRange() throws {
        var d = try TestDriver(size: 8)
        try d.publish(8)
        var q = try d.queue()
        #expect(throws: VirtqueueError.descriptorIndexOutOfRange(index: 8, tableSize: 8)) { try q.popAvailable() }
    }

    @Test func nextOutOfRange() throws {
        var d = try TestDriver(size: 8)
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 1, next: 200)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.descriptorIndexOutOfRange(index: 200, tableSize: 8)) { try q.popAvailable() }
    }

    @Test func chainLoop() throws {
        var d = try TestDriver(size: 8)
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 1, next: 1)
        try d.setDescriptor(1, address: 0x10000, length: 4, flags: 1, next: 0)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.descriptorChainTooLong(limit: 8)) { try q.popAvailable() }
    }

    @Test func indirectLoop() throws {
        var d = try TestDriver(size: 8)
        let table = GuestAddress(0x20000)
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 1, next: 1, table: table)
        try d.setDescriptor(1, address: 0x10000, length: 4, flags: 1, next: 0, table: table)
        try d.setDescriptor(0, address: table.raw, length: 32, flags: 4)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.descriptorChainTooLong(limit: 2)) { try q.popAvailable() }
    }

    @Test func nestedIndirect() throws {
        var d = try TestDriver()
        let table = GuestAddress(0x20000)
        try d.setDescriptor(0, address: table.raw, length: 16, flags: 4, table: table)
        try d.setDescriptor(0, address: table.raw, length: 16, flags: 4)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.nestedIndirect) { try q.popAvailable() }
    }

    @Test func indirectRules() throws {
        let table: UInt64 = 0x20000
        let cases: [(length: UInt32, flags: UInt16, address: UInt64, features: UInt64, error: VirtqueueError)] = [
            (32, 4, table, 0, .indirectNotNegotiated),
            (32, 4 | 1, table, VirtioFeature.indirectDescriptors, .indirectWithNext),
            (24, 4, table, VirtioFeature.indirectDescriptors, .invalidIndirectTableLength(24)),
            (0, 4, table, VirtioFeature.indirectDescriptors, .invalidIndirectTableLength(0)),
            (16 * 9, 4, table, VirtioFeature.indirectDescriptors, .invalidIndirectTableLength(144)),
            (32, 4, TestDriver.memorySize - 16, VirtioFeature.indirectDescriptors,
             .indirectTableOutsideMemory(address: GuestAddress(TestDriver.memorySize - 16), length: 32)),
        ]
        for c in cases {
            var d = try TestDriver()
            try d.setDescriptor(0, address: c.address, length: c.length, flags: c.flags, next: 1)
            try d.publish(0)
            var q = try d.queue(features: c.features)
            #expect(throws: c.error) { try q.popAvailable() }
        }
    }

    @Test func bufferOutsideMemory() throws {
        var d = try TestDriver()
        try d.setDescriptor(0, address: TestDriver.memorySize - 4, length: 8, flags: 2)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.bufferOutsideMemory(address: GuestAddress(TestDriver.memorySize - 4), length: 8)) {
            try q.popAvailable()
        }
        var e = try TestDriver()
        try e.setDescriptor(0, address: UInt64.max - 2, length: 8, flags: 2)
        try e.publish(0)
        var r = try e.queue()
        #expect(throws: VirtqueueError.bufferOutsideMemory(address: GuestAddress(UInt64.max - 2), length: 8)) {
            try r.popAvailable()
        }
    }

    @Test func totalLengthOverflow() throws {
        // 256 indirect entries of 17 MiB each (all over the same RAM) sum past 2^32.
        let memory = try GuestMemoryMap.anonymous(size: 32 << 20)
        var d = try TestDriver(size: 256, memory: memory)
        let table = GuestAddress(0x20000)
        for i: UInt16 in 0..<256 {
            try d.setDescriptor(i, address: 0x10_0000, length: 17 << 20, flags: i == 255 ? 2 : 3, next: i + 1, table: table)
        }
        try d.setDescriptor(0, address: table.raw, length: 256 * 16, flags: 4)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.totalLengthOverflow) { try q.popAvailable() }
    }

    @Test func readableAfterWritable() throws {
        var d = try TestDriver()
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 2 | 1, next: 1)
        try d.setDescriptor(1, address: 0x10000, length: 4, flags: 0)
        try d.publish(0)
        var q = try d.queue()
        #expect(throws: VirtqueueError.readableAfterWritable) { try q.popAvailable() }
    }

    // MARK: notification suppression

    @Test func needsEventMath() {
        // Linux's vring_need_event: event in (old, new].
        #expect(Virtqueue.needsEvent(event: 5, new: 6, old: 5))
        #expect(!Virtqueue.needsEvent(event: 6, new: 6, old: 5))
        #expect(Virtqueue.needsEvent(event: 4, new: 6, old: 4))
        #expect(!Virtqueue.needsEvent(event: 3, new: 6, old: 4))
        #expect(Virtqueue.needsEvent(event: 0xffff, new: 1, old: 0xfffe))  // across the wrap
        #expect(!Virtqueue.needsEvent(event: 1, new: 1, old: 0xfffe))
        #expect(!Virtqueue.needsEvent(event: 7, new: 7, old: 7))
    }

    @Test func eventIdxSuppression() throws {
        var d = try TestDriver()
        for i: UInt16 in 0..<8 { try d.setDescriptor(i, address: 0x10000, length: 4, flags: 2) }
        var q = try d.queue(features: VirtioFeature.eventIndex)
        func complete(_ n: Int) throws {
            for _ in 0..<n { try d.publish(0) }
            for _ in 0..<n {
                let c = try #require(try q.popAvailable())
                try q.addUsed(head: c.head, length: 0)
            }
        }
        try complete(1)
        #expect(try q.needsNotification())  // first: always
        try d.setUsedEvent(5)               // "interrupt me when used idx passes 5"
        try complete(2)                     // used idx 3
        #expect(try !q.needsNotification())
        try complete(3)                     // used idx 6: crossed 5
        #expect(try q.needsNotification())
        try complete(1)                     // 7, event still 5
        #expect(try !q.needsNotification())
        // Re-arming writes avail_event = last consumed index.
        #expect(try !q.enableNotification())
        #expect(try d.availEvent() == 7)
    }

    @Test func noInterruptFlagWithoutEventIdx() throws {
        var d = try TestDriver()
        try d.setDescriptor(0, address: 0x10000, length: 4, flags: 2)
        var q = try d.queue(features: 0)
        try d.publish(0)
        _ = try q.popAvailable()
        try q.addUsed(head: 0, length: 0)
        #expect(try q.needsNotification())
        try d.setAvailFlags(1)
        #expect(try !q.needsNotification())
        try q.disableNotification()
        #expect(try d.usedFlags() == 1)
        try d.publish(0)
        #expect(try q.enableNotification())  // a chain arrived while kicks were off
        #expect(try d.usedFlags() == 0)
    }

    @Test func gatherAndScatter() throws {
        let memory = try GuestMemoryMap.anonymous(size: TestDriver.memorySize)
        try memory.write([1, 2, 3], at: GuestAddress(0x10000))
        try memory.write([4, 5], at: GuestAddress(0x10100))
        let chain = DescriptorChain(head: 0, readable: [range(0x10000, 3), range(0x10100, 2)],
                                    writable: [range(0x11000, 2), range(0x11100, 4)])
        #expect(try chain.gatherReadable(from: memory, maxLength: 100) == [1, 2, 3, 4, 5])
        #expect(try chain.gatherReadable(from: memory, maxLength: 4) == [1, 2, 3, 4])
        #expect(try chain.scatterWritable([9, 8, 7, 6, 5, 4, 3], into: memory) == 6)
        #expect(try memory.read(count: 2, at: GuestAddress(0x11000)) == [9, 8])
        #expect(try memory.read(count: 4, at: GuestAddress(0x11100)) == [7, 6, 5, 4])
        #expect(try chain.scatterWritable([1, 1], into: memory, offset: 3) == 2)
        #expect(try memory.read(count: 4, at: GuestAddress(0x11100)) == [7, 1, 1, 4])
    }
}
