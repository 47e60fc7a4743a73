// Every request type against a real temporary file, read back with plain Glibc.
import Glibc
import Testing
@testable import VirtioDevices

@Suite struct BlockBackendTests {
    let dir: BlockTempDir
    init() throws { dir = try BlockTempDir() }

    @Test func openReportsCapacityInWholeSectors() throws {
        let path = try dir.file("disk.img", sparseSize: 64 * 512 + 100)
        let backend = try BlockFileBackend(path: path)
        #expect(backend.capacitySectors == 64)
        #expect(!backend.readOnly && !backend.isBlockDevice)
    }

    @Test func openRejectsDirectoriesAndMissingFiles() {
        // Read-write open of a directory already fails (EISDIR); read-only gets as far as fstat.
        #expect(throws: BlockError.io(.open, errno: EISDIR)) { try BlockFileBackend(path: dir.path) }
        #expect(throws: BlockError.notFileOrBlockDevice) { try BlockFileBackend(path: dir.path, readOnly: true) }
        #expect(throws: BlockError.notFileOrBlockDevice) { try BlockFileBackend(path: "/dev/null") }
        #expect(throws: BlockError.io(.open, errno: ENOENT)) { try BlockFileBackend(path: dir.path + "/none") }
    }

    @Test func writeThenReadReturnsTheData() throws {
        let path = try dir.file("disk.img", sparseSize: 64 * 512)
        let processor = try blockProcessor(path)
        let data = blockPattern(3 * 512)
        #expect(processor.write(sector: 5, data) == BlockResponse(status: .ok))
        #expect(processor.read(sector: 5, bytes: 3 * 512) == BlockResponse(data: data, status: .ok))
        // The bytes are where sector 5 says, and nothing else changed.
        let file = blockFileBytes(path)
        #expect(file.count == 64 * 512)
        #expect(Array(file[(5 * 512)..<(8 * 512)]) == data)
        #expect(file[0..<(5 * 512)].allSatisfy { $0 == 0 } && file[(8 * 512)...].allSatisfy { $0 == 0 })
        // An IN with only the status byte reads nothing and succeeds.
        #expect(processor.read(sector: 5, bytes: 0) == BlockResponse(status: .ok))
    }

    @Test func sparseAndShrunkRegionsReadAsZeros() throws {
        let path = try dir.file("disk.img", sparseSize: 16 * 512)
        let processor = try blockProcessor(path)
        #expect(processor.read(sector: 0, bytes: 16 * 512).data == [UInt8](repeating: 0, count: 16 * 512))
        // The file shrinks under the backend: sectors past the new end read as zeros, not garbage.
        #expect(processor.write(sector: 0, blockPattern(512)).status == 0)
        #expect(truncate(path, 1024 + 256) == 0)
        let response = processor.read(sector: 2, bytes: 2 * 512)
        #expect(response.status == 0)
        #expect(response.data == [UInt8](repeating: 0, count: 1024))
    }

    @Test func flushCallsFdatasyncAndCloseFlushes() throws {
        let path = try dir.file("disk.img", sparseSize: 8 * 512)
        let log = BlockCallLog()
        let processor = try blockProcessor(path, calls: .logged(log))
        let flush = BlockRequestHeader(type: .flush, sector: 0)
        #expect(processor.handle(header: flush, readable: [], writableCapacity: 1) == BlockResponse(status: .ok))
        #expect(log.count("fdatasync") == 1)
        #expect(blockError(processor.backend.close()) == nil)
        #expect(log.count("fdatasync") == 2)
        // Closed: every request fails cleanly, closing again is harmless.
        #expect(processor.handle(header: flush, readable: [], writableCapacity: 1).status == BlockStatus.ioError.rawValue)
        #expect(processor.read(sector: 0, bytes: 512).error == .closed)
        #expect(blockError(processor.backend.close()) == nil)
        #expect(log.count("fdatasync") == 2)
    }

    @Test func droppingTheBackendFlushes() throws {
        let path = try dir.file("disk.img", sparseSize: 8 * 512)
        let log = BlockCallLog()
        do {
            let backend = try BlockFileBackend(path: path, readOnly: false, serial: "", calls: .logged(log))
            #expect(blockError(backend.write(sector: 0, bytes: blockPattern(512))) == nil)
        }
        #expect(log.count("fdatasync") == 1)
        #expect(Array(blockFileBytes(path).prefix(512)) == blockPattern(512))
    }

    @Test(arguments: [
        ("vd-serial", 64, Array("vd-serial".utf8) + [UInt8](repeating: 0, count: 11)),
        ("abcdefghijklmnopqrstuvwxyz", 64, Array("abcdefghijklmnopqrst".utf8)),
        ("abcdefghijklmnopqrstuvwxyz", 9, Array("abcdefgh".utf8)),
        ("", 21, [UInt8](repeating: 0, count: 20)),
    ])
    func getIDIsPaddedOrCutToTwentyBytes(serial: String, capacity: Int, expected: [UInt8]) throws {
        let path = try dir.file("disk.img", sparseSize: 512)
        let processor = try blockProcessor(path, serial: serial)
        let response = processor.handle(header: BlockRequestHeader(type: .getID, sector: 0), readable: [],
                                        writableCapacity: capacity)
        #expect(response == BlockResponse(data: expected, status: .ok))
    }

    @Test func discardPunchesAHoleThatReadsAsZeros() throws {
        let size = 1 << 20
        let path = try dir.file("disk.img", contents: blockPattern(size))
        let before = blockAllocatedBlocks(path)
        let processor = try blockProcessor(path)
        let segments = [BlockDiscardSegment(sector: 512, sectorCount: 256), BlockDiscardSegment(sector: 1024, sectorCount: 128)]
        #expect(processor.segments(.discard, segments) == BlockResponse(status: .ok))
        #expect(blockAllocatedBlocks(path) <= before - 384)
        #expect(blockNextHole(path, from: 0) == 512 * 512)
        #expect(processor.read(sector: 512, bytes: 256 * 512).data == [UInt8](repeating: 0, count: 256 * 512))
        let file = blockFileBytes(path)
        #expect(file.count == size)  // KEEP_SIZE: the disk does not shrink
        #expect(Array(file[0..<(512 * 512)]) == Array(blockPattern(size)[0..<(512 * 512)]))
        #expect(Array(file[(1152 * 512)...]) == Array(blockPattern(size)[(1152 * 512)...]))
    }

    @Test(arguments: [false, true])
    func writeZeroesZeroes(unmap: Bool) throws {
        let size = 256 * 1024
        let path = try dir.file("disk.img", contents: blockPattern(size))
        let before = blockAllocatedBlocks(path)
        let processor = try blockProcessor(path)
        let segment = BlockDiscardSegment(sector: 64, sectorCount: 128, flags: unmap ? BlockDiscardSegment.unmapFlag : 0)
        #expect(processor.segments(.writeZeroes, [segment]) == BlockResponse(status: .ok))
        var expected = blockPattern(size)
        expected.replaceSubrange((64 * 512)..<(192 * 512), with: [UInt8](repeating: 0, count: 128 * 512))
        #expect(blockFileBytes(path) == expected)
        if unmap { #expect(blockAllocatedBlocks(path) < before) }
    }

    @Test func writeZeroesFallsBackToWritingZeros() throws {
        let path = try dir.file("disk.img", contents: blockPattern(64 * 512))
        var calls = BlockSystemCalls.system
        calls.fallocate = { _, _, _, _ in .failed(errno: EOPNOTSUPP) }
        let processor = try blockProcessor(path, calls: calls)
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 8, sectorCount: 8)]).status == 0)
        #expect(blockFileBytes(path)[(8 * 512)..<(16 * 512)].allSatisfy { $0 == 0 })
        // Discard without hole punching is still OK: it is only a hint, and the data stays.
        #expect(processor.segments(.discard, [BlockDiscardSegment(sector: 0, sectorCount: 8)]).status == 0)
        #expect(Array(blockFileBytes(path)[0..<512]) == Array(blockPattern(512)))
    }

    @Test func unknownTypeAndBadFlagsAreUnsupported() throws {
        let path = try dir.file("disk.img", contents: blockPattern(16 * 512))
        let processor = try blockProcessor(path)
        for raw: UInt32 in [2, 3, 10, 14, 0xFFFF_FFFF] {
            let header = BlockRequestHeader(type: BlockRequestType(rawValue: raw), sector: 0)
            #expect(processor.handle(header: header, readable: [], writableCapacity: 1) == BlockResponse(status: .unsupported))
        }
        let unsupported = BlockStatus.unsupported.rawValue
        #expect(processor.segments(.discard, [BlockDiscardSegment(sector: 0, sectorCount: 1, flags: 1)]).status == unsupported)
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 0, sectorCount: 1, flags: 2)]).status == unsupported)
        #expect(blockFileBytes(path) == blockPattern(16 * 512))
    }
}
