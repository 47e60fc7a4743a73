// Wire-format parsing, range arithmetic and configuration space: pure byte tests, no files.
import Testing
@testable import VirtioDevices

@Suite struct BlockRequestParsingTests {
    @Test func headerParsesLittleEndianFields() throws {
        let bytes: [UInt8] = [1, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0xFF]
        let header = try BlockRequestHeader.parse(bytes).get()
        #expect(header.type == .write)
        #expect(header.reserved == 0xDDCC_BBAA)
        #expect(header.sector == 0x0102_0304_0506_0708)
        #expect(header.bytes() == Array(bytes.prefix(16)))
    }

    @Test func everyTypeRoundTripsAndUnknownIsKept() {
        let known: [(UInt32, BlockRequestType)] = [
            (0, .read), (1, .write), (4, .flush), (8, .getID), (11, .discard), (13, .writeZeroes),
        ]
        for (raw, type) in known {
            #expect(BlockRequestType(rawValue: raw) == type)
            #expect(type.rawValue == raw)
        }
        #expect(BlockRequestType(rawValue: 10) == .unknown(10))  // GET_LIFETIME: not offered
        #expect(BlockRequestType(rawValue: .max) == .unknown(.max))
    }

    @Test func shortHeaderIsAnError() {
        for count in [0, 1, 15] {
            #expect(BlockRequestHeader.parse([UInt8](repeating: 0, count: count)) == .failure(.headerTooShort(count)))
        }
    }

    @Test func segmentsParseAndRejectPartialOrEmptyData() throws {
        let segments = [
            BlockDiscardSegment(sector: 0x1122_3344_5566_7788, sectorCount: 0x99AA_BBCC, flags: 1),
            BlockDiscardSegment(sector: 8, sectorCount: 16, flags: 0),
        ]
        let bytes = segments.flatMap { $0.bytes() }
        #expect(bytes.count == 32)
        #expect(Array(bytes[0..<8]) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(try BlockDiscardSegment.parseList(bytes).get() == segments)
        #expect(segments[0].unmap && !segments[1].unmap)
        #expect(BlockDiscardSegment(sector: 0, sectorCount: 1, flags: 6).unknownFlags == 6)
        #expect(BlockDiscardSegment.parseList([]) == .failure(.malformedSegments(byteCount: 0)))
        #expect(BlockDiscardSegment.parseList(Array(bytes.prefix(17))) == .failure(.malformedSegments(byteCount: 17)))
    }
}

@Suite struct BlockExtentTests {
    @Test func inRangeExtentsAreExact() throws {
        let whole = try BlockExtent.checked(sector: 0, byteCount: 1024 * 512, capacitySectors: 1024).get()
        #expect(whole == BlockExtent(offset: 0, length: 1024 * 512))
        let last = try BlockExtent.checked(sector: 1023, byteCount: 512, capacitySectors: 1024).get()
        #expect(last.offset == 1023 * 512)
        // A zero-length transfer at the very end is in range; one sector further is not.
        #expect((try? BlockExtent.checked(sector: 1024, byteCount: 0, capacitySectors: 1024).get()) != nil)
        #expect((try? BlockExtent.checked(sector: 1025, byteCount: 0, capacitySectors: 1024).get()) == nil)
    }

    @Test func outOfRangeAndOverflowAreRejected() {
        let cases: [(UInt64, Int, UInt64)] = [
            (1024, 512, 1024),  // starts at the end
            (1023, 1024, 1024),  // runs past the end
            (UInt64.max, 512, UInt64.max / 512),  // sector * 512 overflows
            (UInt64.max / 512, 1024, UInt64.max / 512),  // start fits, start + length overflows
            (1 << 54, 0, UInt64.max / 512),  // start fits u64 but not off_t
            (0, 512, UInt64.max),  // capacity * 512 overflows: refused rather than trusted
            (0, -512, 1024),  // negative length
        ]
        for (sector, count, capacity) in cases {
            #expect(BlockExtent.checked(sector: sector, byteCount: count, capacitySectors: capacity)
                == .failure(.outOfRange(sector: sector, byteCount: count)), "sector \(sector) count \(count)")
        }
    }
}

@Suite struct BlockConfigTests {
    @Test func fieldsSitAtTheirSpecOffsets() {
        var config = BlockConfig(capacitySectors: 0x0102_0304_0506_0708, readOnly: false)
        config.sizeMax = 0x1111_2222
        config.segMax = 0x3333_4444
        config.blockSize = 4096
        config.maxDiscardSectors = 0x5555_6666
        config.maxDiscardSegments = 7
        config.discardSectorAlignment = 8
        config.maxWriteZeroesSectors = 0x7777_8888
        config.maxWriteZeroesSegments = 9
        let bytes = config.configBytes()
        #expect(bytes.count == 60)
        func u32(_ offset: Int) -> UInt32 { BlockBytes.load(UInt32.self, bytes, at: offset) }
        #expect(BlockBytes.load(UInt64.self, bytes, at: 0) == 0x0102_0304_0506_0708)
        #expect(u32(8) == 0x1111_2222)
        #expect(u32(12) == 0x3333_4444)
        #expect(u32(16) == 0)  // geometry
        #expect(u32(20) == 4096)
        #expect(bytes[24..<34].allSatisfy { $0 == 0 })  // topology, writeback, unused0
        #expect(BlockBytes.load(UInt16.self, bytes, at: 34) == 1)
        #expect(u32(36) == 0x5555_6666)
        #expect(u32(40) == 7)
        #expect(u32(44) == 8)
        #expect(u32(48) == 0x7777_8888)
        #expect(u32(52) == 9)
        #expect(bytes[56] == 1)
        #expect(bytes[57..<60].allSatisfy { $0 == 0 })
        config.writeZeroesMayUnmap = false
        #expect(config.configBytes()[56] == 0)
    }

    @Test func featuresDependOnReadOnly() {
        let common: UInt64 = (1 << 32) | (1 << 1) | (1 << 2) | (1 << 6) | (1 << 9)
        #expect(BlockConfig(capacitySectors: 8, readOnly: false).features == common | (1 << 13) | (1 << 14))
        #expect(BlockConfig(capacitySectors: 8, readOnly: true).features == common | (1 << 5))
    }
}
