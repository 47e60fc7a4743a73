import Testing
@testable import GuestMemory

@Suite("16-bit atomics")
struct AtomicTests {
    @Test func roundTripLittleEndian() throws {
        let map = try TestLayout().map
        try map.atomicStoreUInt16(0xBEEF, at: GuestAddress(0x10))
        #expect(try map.atomicLoadUInt16(at: GuestAddress(0x10)) == 0xBEEF)
        #expect(try map.read(count: 2, at: GuestAddress(0x10)) == [0xEF, 0xBE])
        try map.write([0x34, 0x12], at: GuestAddress(0x20))
        #expect(try map.atomicLoadUInt16(at: GuestAddress(0x20)) == 0x1234)
    }

    @Test func lastAlignedSlotOfRegionWorks() throws {
        let map = try TestLayout().map
        try map.atomicStoreUInt16(7, at: GuestAddress(0x10FFE))
        #expect(try map.atomicLoadUInt16(at: GuestAddress(0x10FFE)) == 7)
        try map.atomicStoreUInt16(9, at: GuestAddress(.max - 1))
        #expect(try map.atomicLoadUInt16(at: GuestAddress(.max - 1)) == 9)
    }

    @Test func misalignedRejected() throws {
        let map = try TestLayout().map
        #expect(throws: GuestMemoryError.misaligned(address: GuestAddress(0x11), alignment: 2)) {
            try map.atomicLoadUInt16(at: GuestAddress(0x11))
        }
        #expect(throws: GuestMemoryError.misaligned(address: GuestAddress(0x11), alignment: 2)) {
            try map.atomicStoreUInt16(1, at: GuestAddress(0x11))
        }
        #expect(try map.read(count: 2, at: GuestAddress(0x11)) == [0, 0])
    }

    @Test func acrossRegionEndRejected() throws {
        let map = try TestLayout().map
        // A plain read may straddle A and B, an atomic may not.
        #expect(try map.read(count: 2, at: GuestAddress(0x1FFF)) == [0, 0])
        #expect(throws: GuestMemoryError.self) {
            try map.atomicLoadUInt16(at: GuestAddress(0x1FFF))
        }
        #expect(throws: GuestMemoryError.self) {
            try map.atomicStoreUInt16(1, at: GuestAddress(0x2FFF))
        }
        #expect(throws: GuestMemoryError.misaligned(address: GuestAddress(.max), alignment: 2)) {
            try map.atomicLoadUInt16(at: GuestAddress(.max))
        }
        // Past a region's end / in a gap.
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x11000), length: 2)) {
            try map.atomicStoreUInt16(1, at: GuestAddress(0x11000))
        }
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x3000), length: 2)) {
            try map.atomicLoadUInt16(at: GuestAddress(0x3000))
        }
    }

    @Test func locationCheckRejectsStraddlingEvenIfAlignmentWereOK() throws {
        // Defence in depth: regions are page-aligned so an aligned 2-byte access cannot straddle,
        // but the bounds check must still see the end of the region.
        let map = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0x1000), size: 0x1000)])
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0xFFE), length: 2)) {
            try map.atomicLoadUInt16(at: GuestAddress(0xFFE))
        }
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x2000), length: 2)) {
            try map.atomicLoadUInt16(at: GuestAddress(0x2000))
        }
        #expect(try map.atomicLoadUInt16(at: GuestAddress(0x1FFE)) == 0)
    }
}
