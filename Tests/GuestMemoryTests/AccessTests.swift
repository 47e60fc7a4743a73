import Testing
@testable import GuestMemory

@Suite("Bounds-checked access")
struct AccessTests {
    @Test func lastByteOfRegionWorksOnePastFails() throws {
        let layout = try TestLayout()
        let map = layout.map
        try map.write([0xAB], at: GuestAddress(0x10FFF))
        #expect(try map.read(count: 1, at: GuestAddress(0x10FFF)) == [0xAB])
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x11000), length: 1)) {
            try map.write([0xCD], at: GuestAddress(0x11000))
        }
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x10FFF), length: 2)) {
            try map.read(count: 2, at: GuestAddress(0x10FFF))
        }
        // The first byte before a region too.
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0xFFFF), length: 1)) {
            try map.load(UInt8.self, at: GuestAddress(0xFFFF))
        }
    }

    @Test func accessCrossingAdjacentRegionsWorks() throws {
        let layout = try TestLayout()
        let bytes = pattern(0x1800)
        // 0x800 bytes at the end of A, then all 0x1000 bytes of B.
        let start = GuestAddress(0x1800)
        try layout.map.write(bytes, at: start)
        #expect(try layout.map.read(count: bytes.count, at: start) == bytes)
        // And each half landed in the right region.
        var tail = [UInt8](repeating: 0, count: 0x800)
        try layout.map.read(into: &tail, at: GuestAddress(0x1800))
        #expect(tail == Array(bytes[0..<0x800]))
        #expect(try layout.map.read(count: 0x1000, at: GuestAddress(0x2000)) == Array(bytes[0x800...]))
        // Integers straddling the boundary too.
        try layout.map.store(UInt32(0x1122_3344), at: GuestAddress(0x1FFE))
        #expect(try layout.map.load(UInt32.self, at: GuestAddress(0x1FFE)) == 0x1122_3344)
        #expect(try layout.map.read(count: 4, at: GuestAddress(0x1FFE)) == [0x44, 0x33, 0x22, 0x11])
    }

    @Test func accessCrossingIntoGapFailsAndDoesNothing() throws {
        let map = try TestLayout().map
        try map.write([1, 2, 3, 4], at: GuestAddress(0x2FFC))
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x2FFC), length: 8)) {
            try map.write([9, 9, 9, 9, 9, 9, 9, 9], at: GuestAddress(0x2FFC))
        }
        // Nothing partial: the in-RAM half is unchanged.
        #expect(try map.read(count: 4, at: GuestAddress(0x2FFC)) == [1, 2, 3, 4])
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x2FFC), length: 0x10000)) {
            try map.fill(0xFF, count: 0x10000, at: GuestAddress(0x2FFC))
        }
        #expect(try map.read(count: 4, at: GuestAddress(0x2FFC)) == [1, 2, 3, 4])
        // A read crossing A→B→gap fails as a whole.
        var buffer = [UInt8](repeating: 7, count: 0x3001)
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0), length: 0x3001)) {
            try map.read(into: &buffer, at: GuestAddress(0))
        }
        #expect(buffer.allSatisfy { $0 == 7 })
    }

    @Test func overflowNearTopOfAddressSpaceFailsCleanly() throws {
        let map = try TestLayout().map
        let top = GuestAddress(0xFFFF_FFFF_FFFF_FFFF)
        // The top region makes the last byte of the address space valid RAM...
        try map.write([0x5A], at: top)
        #expect(try map.read(count: 1, at: top) == [0x5A])
        // ...but two bytes from there wrap past 2^64.
        #expect(throws: GuestMemoryError.invalidRange(start: top, length: 2)) {
            try map.read(count: 2, at: top)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: top, length: 2)) {
            try map.write([1, 2], at: top)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: top, length: 2)) {
            try map.load(UInt16.self, at: top)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: top, length: 8)) {
            try map.store(UInt64(1), at: top)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(2), length: .max)) {
            try map.fill(0, count: .max, at: GuestAddress(2))
        }
        // The last 8 bytes of the address space are fine.
        try map.store(UInt64(0x0102_0304_0506_0708), at: GuestAddress(.max - 7))
        #expect(try map.load(UInt64.self, at: GuestAddress(.max - 7)) == 0x0102_0304_0506_0708)
    }

    @Test func overflowWithoutTopRegion() throws {
        let map = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: 0x1000)])
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(.max), length: 2)) {
            try map.write([0, 0], at: GuestAddress(.max))
        }
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(.max), length: 1)) {
            try map.write([0], at: GuestAddress(.max))
        }
        // A huge length from a valid start: refused before any allocation or copy.
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0), length: UInt64(Int.max))) {
            try map.read(count: .max, at: GuestAddress(0))
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(0), length: UInt64(bitPattern: -1))) {
            try map.read(count: -1, at: GuestAddress(0))
        }
    }

    @Test func zeroLengthAccessesAreNoOps() throws {
        let map = try TestLayout().map
        #expect(try map.read(count: 0, at: GuestAddress(0x5000)) == [])
        try map.write([], at: GuestAddress(0x5000))
        try map.fill(1, count: 0, at: GuestAddress(.max))
    }

    @Test func littleEndianLayoutByteByByte() throws {
        let map = try TestLayout().map
        try map.store(UInt16(0xA1B2), at: GuestAddress(0x100))
        #expect(try map.read(count: 2, at: GuestAddress(0x100)) == [0xB2, 0xA1])
        try map.store(UInt32(0x0A0B_0C0D), at: GuestAddress(0x200))
        #expect(try map.read(count: 4, at: GuestAddress(0x200)) == [0x0D, 0x0C, 0x0B, 0x0A])
        try map.store(UInt64(0x0102_0304_0506_0708), at: GuestAddress(0x301))  // unaligned is fine
        #expect(try map.read(count: 8, at: GuestAddress(0x301)) == [8, 7, 6, 5, 4, 3, 2, 1])
        try map.store(Int32(-2), at: GuestAddress(0x400))
        #expect(try map.read(count: 4, at: GuestAddress(0x400)) == [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(try map.load(Int32.self, at: GuestAddress(0x400)) == -2)

        try map.write([0x78, 0x56, 0x34, 0x12], at: GuestAddress(0x500))
        #expect(try map.load(UInt32.self, at: GuestAddress(0x500)) == 0x1234_5678)
        #expect(try map.load(UInt16.self, at: GuestAddress(0x502)) == 0x1234)
        #expect(try map.load(UInt8.self, at: GuestAddress(0x503)) == 0x12)
    }

    @Test func fillSetsExactlyTheRange() throws {
        let map = try TestLayout().map
        // [0x1FFF, 0x2FFF): crosses from A into B.
        try map.fill(0xEE, count: 0x1000, at: GuestAddress(0x1FFF))
        #expect(try map.read(count: 0x1000, at: GuestAddress(0x1FFF)).allSatisfy { $0 == 0xEE })
        #expect(try map.read(count: 1, at: GuestAddress(0x1FFE)) == [0])
        #expect(try map.read(count: 1, at: GuestAddress(0x2FFF)) == [0])
    }

    @Test func writeFromRawBuffer() throws {
        let map = try TestLayout().map
        let bytes = pattern(300, seed: 9)
        try bytes[100...].withUnsafeBytes { try map.write($0, at: GuestAddress(0x1F80)) }
        #expect(try map.read(count: 200, at: GuestAddress(0x1F80)) == Array(bytes[100...]))
        var out = [UInt8](repeating: 0, count: 200)
        try out.withUnsafeMutableBytes { try map.read(into: $0, at: GuestAddress(0x1F80)) }
        #expect(out == Array(bytes[100...]))
    }

    @Test func guestDataSurvivesMapRelease() throws {
        // Regions are owned by the map: the map can be dropped while a region stays in use.
        var map: GuestMemoryMap? = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: 0x1000)])
        let region = try #require(map?.regions.first)
        try map?.write([42], at: GuestAddress(0))
        map = nil
        let again = try GuestMemoryMap(regions: [region])
        #expect(try again.read(count: 1, at: GuestAddress(0)) == [42])
    }
}

/// A virtio-like C struct: fields of different widths with natural alignment.
struct Descriptor: Equatable, BitwiseCopyable {
    var address: UInt64
    var length: UInt32
    var flags: UInt16
    var next: UInt16
}

@Suite("Struct copies")
struct StructTests {
    @Test func roundTripAndLayout() throws {
        let map = try TestLayout().map
        let descriptor = Descriptor(address: 0x1122_3344_5566_7788, length: 0x200, flags: 3, next: 7)
        // Straddle A and B to also exercise the cross-region path.
        let at = GuestAddress(0x1FF8)
        try map.storeStruct(descriptor, at: at)
        #expect(try map.loadStruct(Descriptor.self, at: at) == descriptor)
        #expect(MemoryLayout<Descriptor>.size == 16)
        #expect(try map.read(count: 16, at: at) == [
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0x02, 0, 0, 3, 0, 7, 0,
        ])
        #expect(try map.load(UInt32.self, at: GuestAddress(0x2000)) == 0x200)
    }

    @Test func boundsChecked() throws {
        let map = try TestLayout().map
        let descriptor = Descriptor(address: 1, length: 2, flags: 3, next: 4)
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x2FF8), length: 16)) {
            try map.storeStruct(descriptor, at: GuestAddress(0x2FF8))
        }
        #expect(try map.read(count: 8, at: GuestAddress(0x2FF8)) == [UInt8](repeating: 0, count: 8))
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x10FF1), length: 16)) {
            try map.loadStruct(Descriptor.self, at: GuestAddress(0x10FF1))
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(.max - 8), length: 16)) {
            try map.loadStruct(Descriptor.self, at: GuestAddress(.max - 8))
        }
        // Unaligned guest addresses are fine for struct copies.
        try map.storeStruct(descriptor, at: GuestAddress(0x10003))
        #expect(try map.loadStruct(Descriptor.self, at: GuestAddress(0x10003)) == descriptor)
    }
}
