import Testing
@testable import GuestMemory

@Suite("GuestMemoryMap layout")
struct GuestMemoryMapTests {
    @Test func regionsAreSortedAndFound() throws {
        let layout = try TestLayout()
        #expect(layout.map.regions.map(\.start.raw) == [0, 0x2000, 0x10000, 0xFFFF_FFFF_FFFF_F000])
        #expect(layout.map.region(containing: GuestAddress(0)) === layout.a)
        #expect(layout.map.region(containing: GuestAddress(0x1FFF)) === layout.a)
        #expect(layout.map.region(containing: GuestAddress(0x2000)) === layout.b)
        #expect(layout.map.region(containing: GuestAddress(0x2FFF)) === layout.b)
        #expect(layout.map.region(containing: GuestAddress(0x3000)) == nil)
        #expect(layout.map.region(containing: GuestAddress(0xFFFF)) == nil)
        #expect(layout.map.region(containing: GuestAddress(0x10FFF)) === layout.c)
        #expect(layout.map.region(containing: GuestAddress(0x11000)) == nil)
        #expect(layout.map.region(containing: GuestAddress(.max)) === layout.d)
        #expect(layout.map.totalSize == 0x5000)
    }

    @Test func overlappingRegionsRejected() throws {
        let first = try GuestRegion.anonymous(at: GuestAddress(0), size: 0x2000)
        let second = try GuestRegion.anonymous(at: GuestAddress(0x1000), size: 0x2000)
        #expect(throws: GuestMemoryError.overlappingRegions(first.range, second.range)) {
            try GuestMemoryMap(regions: [second, first])
        }
        // The same region twice also overlaps itself.
        #expect(throws: GuestMemoryError.overlappingRegions(first.range, first.range)) {
            try GuestMemoryMap(regions: [first, first])
        }
    }

    @Test func emptyMapRejectsEverything() throws {
        let map = try GuestMemoryMap(regions: [])
        #expect(map.totalSize == 0)
        #expect(map.region(containing: GuestAddress(0)) == nil)
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0), length: 1)) {
            try map.read(count: 1, at: GuestAddress(0))
        }
    }

    @Test func isValidAcrossAdjacentRegionsButNotGaps() throws {
        let map = try TestLayout().map
        func range(_ start: UInt64, _ length: UInt64) throws -> GuestRange {
            try #require(GuestRange(start: GuestAddress(start), length: length))
        }
        #expect(map.isValid(try range(0, 0x3000)))
        #expect(map.isValid(try range(0x1FFF, 2)))
        #expect(!map.isValid(try range(0, 0x3001)))
        #expect(!map.isValid(try range(0x2FFF, 2)))
        #expect(!map.isValid(try range(0x3000, 1)))
        #expect(map.isValid(try range(0x10000, 0x1000)))
        #expect(!map.isValid(try range(0xFFFF, 2)))
        #expect(map.isValid(try range(0xFFFF_FFFF_FFFF_F000, 0x1000)))
    }

    @Test func anonymousSmallIsOneRegion() throws {
        let map = try GuestMemoryMap.anonymous(size: 64 << 20)
        #expect(map.regions.count == 1)
        #expect(map.regions[0].start == GuestAddress(0))
        #expect(map.totalSize == 64 << 20)
    }

    @Test func anonymousExactlyThreeGiBIsOneRegion() throws {
        let map = try GuestMemoryMap.anonymous(size: 3 << 30)
        #expect(map.regions.map(\.range) == [GuestRange(start: GuestAddress(0), length: 3 << 30)])
    }

    @Test func anonymousLargeLeavesMMIOHole() throws {
        // MAP_NORESERVE: 5 GiB of address space, nothing touched, so this is cheap.
        let map = try GuestMemoryMap.anonymous(size: 5 << 30)
        #expect(map.regions.map(\.range) == [
            GuestRange(start: GuestAddress(0), length: 3 << 30),
            GuestRange(start: GuestAddress(4 << 30), length: 2 << 30),
        ])
        #expect(map.totalSize == 5 << 30)
        #expect(map.region(containing: GuestAddress(0xFEE0_0000)) == nil)  // LAPIC stays MMIO
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress((3 << 30) - 1), length: 2)) {
            try map.read(count: 2, at: GuestAddress((3 << 30) - 1))
        }
        try map.store(UInt64(0xDEAD_BEEF), at: GuestAddress((6 << 30) - 8))
        #expect(try map.load(UInt64.self, at: GuestAddress((6 << 30) - 8)) == 0xDEAD_BEEF)
    }

    @Test func anonymousRejectsBadSizes() {
        #expect(throws: GuestMemoryError.sizeNotPageMultiple(4097)) {
            try GuestMemoryMap.anonymous(size: 4097)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(0), length: 0)) {
            try GuestMemoryMap.anonymous(size: 0)
        }
        // 4 GiB + (size - 3 GiB) would wrap past 2^64.
        #expect(throws: GuestMemoryError.self) {
            try GuestMemoryMap.anonymous(size: .max & ~0xFFF)
        }
    }
}
