import Dispatch
import Testing
@testable import GuestMemory

@Suite("Dirty tracking")
struct DirtyTrackingTests {
    /// A: 4 pages at 0, B: 2 pages at 0x4000 (adjacent).
    func makeMap() throws -> GuestMemoryMap {
        let map = try GuestMemoryMap(regions: [
            .anonymous(at: GuestAddress(0), size: 0x4000),
            .anonymous(at: GuestAddress(0x4000), size: 0x2000),
        ])
        map.regions.forEach { $0.enableDirtyTracking() }
        return map
    }

    @Test func disabledByDefault() throws {
        let map = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: 0x4000)])
        #expect(!map.regions[0].isDirtyTrackingEnabled)
        try map.write([1], at: GuestAddress(0))
        #expect(map.regions[0].takeDirtyPages() == [])
    }

    @Test func writeSpanningThreePages() throws {
        let map = try makeMap()
        // From the last byte of page 0 to the first byte of page 2.
        try map.write([UInt8](repeating: 1, count: 0x1002), at: GuestAddress(0x0FFF))
        #expect(map.regions[0].takeDirtyPages() == [0, 1, 2])
        #expect(map.regions[1].takeDirtyPages() == [])
        // Taking clears.
        #expect(map.regions[0].takeDirtyPages() == [])
    }

    @Test func writeCrossingRegions() throws {
        let map = try makeMap()
        try map.write([1, 2, 3, 4], at: GuestAddress(0x3FFE))
        #expect(map.regions[0].takeDirtyPages() == [3])
        #expect(map.regions[1].takeDirtyPages() == [0])
    }

    @Test func everyWriteAPIMarksAndReadsDoNot() throws {
        let map = try makeMap()
        let a = map.regions[0]
        let b = map.regions[1]
        _ = try map.read(count: 0x6000, at: GuestAddress(0))
        _ = try map.load(UInt64.self, at: GuestAddress(0x1000))
        _ = try map.atomicLoadUInt16(at: GuestAddress(0x2000))
        _ = try map.loadStruct(Descriptor.self, at: GuestAddress(0x3000))
        #expect(a.takeDirtyPages() == [])

        try map.fill(0, count: 1, at: GuestAddress(0x0000))
        try map.store(UInt32(1), at: GuestAddress(0x1000))
        try map.storeStruct(Descriptor(address: 1, length: 2, flags: 3, next: 4), at: GuestAddress(0x2008))
        try map.atomicStoreUInt16(5, at: GuestAddress(0x3FFE))
        [UInt8](repeating: 1, count: 3).withUnsafeBytes { bytes in
            #expect(throws: Never.self) { try map.write(bytes, at: GuestAddress(0x5000)) }
        }
        #expect(a.takeDirtyPages() == [0, 1, 2, 3])
        #expect(b.takeDirtyPages() == [1])
    }

    @Test func failedWriteMarksNothing() throws {
        let map = try makeMap()
        #expect(throws: GuestMemoryError.self) {
            try map.write([UInt8](repeating: 1, count: 0x10), at: GuestAddress(0x5FF8))
        }
        #expect(map.regions[1].takeDirtyPages() == [])
    }

    @Test func largeFillMarksEveryPage() throws {
        let region = try GuestRegion.anonymous(at: GuestAddress(0), size: 300 * 4096)
        region.enableDirtyTracking()
        let map = try GuestMemoryMap(regions: [region])
        try map.fill(0xFF, count: (200 - 60) * 4096 - 1, at: GuestAddress(60 * 4096 + 1))
        #expect(region.takeDirtyPages() == Array(60..<200))
    }

    @Test func enablingTwiceKeepsRecordedPages() throws {
        let map = try makeMap()
        try map.write([1], at: GuestAddress(0x2000))
        map.regions[0].enableDirtyTracking()
        #expect(map.regions[0].takeDirtyPages() == [2])
    }

    @Test func concurrentWritersAllRecorded() throws {
        let region = try GuestRegion.anonymous(at: GuestAddress(0), size: 256 * 4096)
        region.enableDirtyTracking()
        let map = try GuestMemoryMap(regions: [region])
        DispatchQueue.concurrentPerform(iterations: 128) { i in
            // Every other page, from many threads at once.
            _ = try? map.store(UInt64(i), at: GuestAddress(UInt64(i) * 2 * 4096))
        }
        #expect(region.takeDirtyPages() == (0..<128).map { UInt64($0) * 2 })
    }
}

@Suite("DirtyBitmap")
struct DirtyBitmapTests {
    @Test func marksWordBoundariesExactly() {
        var bitmap = DirtyBitmap(regionSize: 200 * 4096)
        bitmap.mark(offset: 63 * 4096, count: 2 * 4096)      // pages 63, 64
        bitmap.mark(offset: 127 * 4096 + 4095, count: 1)     // page 127
        bitmap.mark(offset: 128 * 4096, count: 64 * 4096)    // pages 128...191 (one whole word)
        #expect(bitmap.take() == [63, 64, 127] + Array(128...191))
        #expect(bitmap.take() == [])
    }

    @Test func ignoresOutOfRangeAndOverflow() {
        var bitmap = DirtyBitmap(regionSize: 2 * 4096)
        bitmap.mark(offset: 0, count: 0)
        bitmap.mark(offset: 5 * 4096, count: 1)
        bitmap.mark(offset: 4096, count: .max)  // clamps at the last page instead of trapping
        #expect(bitmap.take() == [1])
        #expect(bitmap.pageCount == 2)
    }
}
