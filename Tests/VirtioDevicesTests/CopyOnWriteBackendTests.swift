// The copy-on-write backend against an in-memory model of the disk, with the base file's bytes
// checked after every scenario: the base must never change.
import Glibc
import Testing
@testable import VirtioDevices

/// SplitMix64: a seeded generator, so a failing random sequence can be replayed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What the disk must read as, with the documented discard rule (whole clusters become zeros;
/// partial clusters become zeros only where the overlay already holds the cluster).
struct CopyOnWriteModel {
    var bytes: [UInt8]
    var allocated: Set<Int> = []
    let clusterSize: Int

    mutating func write(_ offset: Int, _ data: [UInt8]) {
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
        guard !data.isEmpty else { return }
        allocated.formUnion((offset / clusterSize)...((offset + data.count - 1) / clusterSize))
    }

    mutating func discard(_ offset: Int, _ length: Int) {
        guard length > 0 else { return }
        let end = offset + length
        for cluster in (offset / clusterSize)...((end - 1) / clusterSize) {
            let start = cluster * clusterSize, stop = min(start + clusterSize, bytes.count)
            if offset <= start && end >= stop {
                bytes.replaceSubrange(start..<stop, with: [UInt8](repeating: 0, count: stop - start))
                allocated.insert(cluster)
            } else if allocated.contains(cluster) {
                let from = max(offset, start), to = min(end, stop)
                bytes.replaceSubrange(from..<to, with: [UInt8](repeating: 0, count: to - from))
            }
        }
    }
}

@Suite struct CopyOnWriteBackendTests {
    let dir: BlockTempDir
    init() throws { dir = try BlockTempDir() }

    /// A base of `sectors` sectors with a recognisable pattern.
    func makeBase(sectors: Int, seed: UInt8 = 3) throws -> (path: String, bytes: [UInt8]) {
        let bytes = blockPattern(sectors * 512, seed: seed)
        return (try dir.file("base.img", contents: bytes), bytes)
    }

    @Test func freshOverlayReadsTheBaseAndTakesNoSpace() throws {
        let base = try makeBase(sectors: 300)
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay")
        #expect(backend.capacitySectors == 300 && !backend.readOnly && backend.clusterSize == 65536)
        #expect(try backend.read(sector: 0, count: 300 * 512).get() == base.bytes)
        #expect(backend.allocatedClusterCount == 0)
        // Only the header page is allocated: the data region is a hole.
        #expect(blockAllocatedBlocks(dir.path + "/overlay") <= 8)
        #expect(blockError(backend.close()) == nil)
        #expect(blockFileBytes(base.path) == base.bytes)
    }

    @Test func partialClusterWriteCopiesTheRestOfTheClusterFromTheBase() throws {
        let base = try makeBase(sectors: 256)
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay", clusterSize: 4096)
        let data = blockPattern(1024, seed: 99)
        #expect(blockError(backend.write(sector: 9, bytes: data)) == nil)  // bytes 4608..<5632: cluster 1
        var expected = base.bytes
        expected.replaceSubrange(4608..<5632, with: data)
        #expect(try backend.read(sector: 0, count: 256 * 512).get() == expected)
        #expect(backend.allocatedClusterCount == 1)
        // The overlay's cluster 1 holds base bytes around the write, so it stands on its own.
        let overlay = blockFileBytes(dir.path + "/overlay")
        #expect(Array(overlay[4096..<8192]) == Array(expected[4096..<8192]))
        #expect(blockFileBytes(base.path) == base.bytes)
    }

    @Test func randomOperationsMatchTheModelAndNeverTouchTheBase() throws {
        // 37 clusters and 3 sectors: the last cluster is partial.
        let clusterSize = 4096
        let sectors = 37 * 8 + 3
        let base = try makeBase(sectors: sectors)
        let overlayPath = dir.path + "/overlay"
        var backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath, clusterSize: clusterSize)
        var model = CopyOnWriteModel(bytes: base.bytes, clusterSize: clusterSize)
        var random = SeededRandom(state: 0x5EED)
        for step in 0..<600 {
            let sector = Int.random(in: 0..<sectors, using: &random)
            let count = Int.random(in: 0...min(24, sectors - sector), using: &random)
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                let data = (0..<(count * 512)).map { _ in UInt8.random(in: 0...255, using: &random) }
                #expect(blockError(backend.write(sector: UInt64(sector), bytes: data)) == nil)
                model.write(sector * 512, data)
            case 4..<6:
                let unmap = Bool.random(using: &random)
                let segment = BlockDiscardSegment(sector: UInt64(sector), sectorCount: UInt32(count), flags: unmap ? 1 : 0)
                #expect(blockError(backend.writeZeroes(segments: [segment])) == nil)
                model.write(sector * 512, [UInt8](repeating: 0, count: count * 512))
            case 6..<8:
                let segment = BlockDiscardSegment(sector: UInt64(sector), sectorCount: UInt32(count), flags: 0)
                #expect(blockError(backend.discard(segments: [segment])) == nil)
                model.discard(sector * 512, count * 512)
            case 8:
                let read = try backend.read(sector: UInt64(sector), count: count * 512).get()
                #expect(read == Array(model.bytes[(sector * 512)..<((sector + count) * 512)]), "step \(step)")
            default:
                // Close and reopen: everything written so far must survive.
                #expect(blockError(backend.close()) == nil)
                backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath, clusterSize: clusterSize)
            }
        }
        #expect(try backend.read(sector: 0, count: sectors * 512).get() == model.bytes)
        #expect(backend.allocatedClusterCount == model.allocated.count)
        #expect(blockError(backend.close()) == nil)
        #expect(blockFileBytes(base.path) == base.bytes)
    }

    @Test func discardOfAWrittenClusterDoesNotBringTheBaseBack() throws {
        let base = try makeBase(sectors: 64)
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay", clusterSize: 4096)
        #expect(blockError(backend.write(sector: 8, bytes: blockPattern(4096, seed: 50))) == nil)
        #expect(blockError(backend.discard(segments: [BlockDiscardSegment(sector: 8, sectorCount: 8, flags: 0)])) == nil)
        #expect(try backend.read(sector: 8, count: 4096).get() == [UInt8](repeating: 0, count: 4096))
        // A never-written cluster discarded whole reads zeros too (a zero cluster), not the base.
        #expect(blockError(backend.discard(segments: [BlockDiscardSegment(sector: 16, sectorCount: 8, flags: 0)])) == nil)
        #expect(try backend.read(sector: 16, count: 4096).get() == [UInt8](repeating: 0, count: 4096))
        // A partial discard of a never-written cluster leaves the base showing.
        #expect(blockError(backend.discard(segments: [BlockDiscardSegment(sector: 24, sectorCount: 2, flags: 0)])) == nil)
        #expect(try backend.read(sector: 24, count: 1024).get() == Array(base.bytes[(24 * 512)..<(26 * 512)]))
        #expect(blockFileBytes(base.path) == base.bytes)
    }

    @Test func onlyFlushedClustersAreVisibleInACopyOfTheOverlay() throws {
        // A copy of the overlay file taken while the VM runs stands for the file after a crash.
        let base = try makeBase(sectors: 64)
        let overlayPath = dir.path + "/overlay"
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath, clusterSize: 4096)
        let flushed = blockPattern(4096, seed: 60), unflushed = blockPattern(4096, seed: 61)
        #expect(blockError(backend.write(sector: 0, bytes: flushed)) == nil)
        #expect(blockError(backend.flush()) == nil)
        #expect(blockError(backend.write(sector: 8, bytes: unflushed)) == nil)
        let copy = try dir.file("crashed-overlay", contents: blockFileBytes(overlayPath))
        let other = try dir.file("base2.img", contents: base.bytes)
        let afterCrash = try CopyOnWriteBlockBackend(basePath: other, overlayPath: copy)
        #expect(afterCrash.clusterSize == 4096)
        #expect(try afterCrash.read(sector: 0, count: 4096).get() == flushed)
        #expect(try afterCrash.read(sector: 8, count: 4096).get() == Array(base.bytes[4096..<8192]))
        #expect(blockError(backend.close()) == nil)
    }

    @Test func overlaysThatDoNotFitAreRefused() throws {
        let base = try makeBase(sectors: 64)
        let overlayPath = dir.path + "/overlay"
        #expect(throws: BlockError.io(.openBase, errno: ENOENT)) {
            try CopyOnWriteBlockBackend(basePath: dir.path + "/missing", overlayPath: overlayPath)
        }
        #expect(throws: BlockError.overlayInvalid(reason: "cluster size 1000 is not a power of two in 4 KiB...2 MiB")) {
            try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath, clusterSize: 1000)
        }
        #expect(throws: BlockError.overlayInvalid(reason: "the overlay is the base file itself")) {
            try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: base.path)
        }
        let garbage = try dir.file("garbage", contents: blockPattern(8192))
        #expect(throws: BlockError.overlayInvalid(reason: "no overlay header (magic)")) {
            try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: garbage)
        }
        #expect(blockFileBytes(garbage) == blockPattern(8192))  // refused, not reformatted
        // Made for this base, then the base grows: the clusters would no longer line up.
        let first = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath)
        #expect(throws: BlockError.io(.lockOverlay, errno: EWOULDBLOCK)) {
            try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: overlayPath)
        }
        #expect(blockError(first.close()) == nil)
        let bigger = try dir.file("bigger.img", sparseSize: 128 * 512)
        #expect(throws: BlockError.overlayBaseMismatch(overlayBytes: 64 * 512, baseBytes: 128 * 512)) {
            try CopyOnWriteBlockBackend(basePath: bigger, overlayPath: overlayPath)
        }
        // A flipped header byte is caught by the checksum.
        var overlay = blockFileBytes(overlayPath)
        overlay[overlay.count - 4096 + 20] ^= 1
        let corrupt = try dir.file("corrupt", contents: overlay)
        #expect(throws: BlockError.overlayInvalid(reason: "header checksum mismatch")) {
            try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: corrupt)
        }
    }

    @Test func shortTransfersAndInterruptedCallsStillMoveEveryByte() throws {
        let base = try makeBase(sectors: 64)
        let log = BlockCallLog()
        let calls = BlockSystemCalls(
            pread: { fd, buffer, offset in
                // Every third call is interrupted; the others move at most 100 bytes (the prefix lies
                // inside the caller's buffer).
                log.record("pread") % 3 == 0 ? .failed(errno: EINTR)
                    : BlockSystemCalls.system.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(100)), offset)
            },
            pwrite: { fd, buffer, offset in
                BlockSystemCalls.system.pwrite(fd, UnsafeRawBufferPointer(rebasing: buffer.prefix(100)), offset)
            },
            fdatasync: BlockSystemCalls.system.fdatasync,
            fallocate: BlockSystemCalls.system.fallocate)
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay", serial: "cow",
                                                  clusterSize: 4096, calls: calls)
        #expect(backend.id == Array("cow".utf8) + [UInt8](repeating: 0, count: 17))
        let data = blockPattern(3 * 512, seed: 77)
        #expect(blockError(backend.write(sector: 7, bytes: data)) == nil)
        var expected = base.bytes
        expected.replaceSubrange((7 * 512)..<(10 * 512), with: data)
        #expect(try backend.read(sector: 0, count: 64 * 512).get() == expected)
        #expect(blockError(backend.close()) == nil)
        let reopened = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay")
        #expect(try reopened.read(sector: 0, count: 64 * 512).get() == expected)
    }

    @Test func errorsCarryTheOperationAndErrno() throws {
        let base = try makeBase(sectors: 64)
        let switches = BlockCallLog()  // "base" and "sync" counts arm the failures
        var calls = BlockSystemCalls.system
        calls.pread = { fd, buffer, offset in
            switches.count("base") > 0 && descriptorPath(fd).hasSuffix("/base.img")
                ? .failed(errno: EIO) : BlockSystemCalls.system.pread(fd, buffer, offset)
        }
        calls.fdatasync = { fd in switches.count("sync") > 0 ? .failed(errno: EIO) : BlockSystemCalls.system.fdatasync(fd) }
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay", serial: "",
                                                  clusterSize: 4096, calls: calls)
        _ = switches.record("base")
        #expect(throws: BlockError.io(.readBase, errno: EIO)) { try backend.read(sector: 0, count: 512).get() }
        // A partial-cluster write needs the base for the copy-up, and fails with nothing marked.
        #expect(blockError(backend.write(sector: 1, bytes: blockPattern(512))) == .io(.readBase, errno: EIO))
        #expect(backend.allocatedClusterCount == 0)
        // A whole-cluster write needs no base read.
        #expect(blockError(backend.write(sector: 8, bytes: blockPattern(4096))) == nil)
        _ = switches.record("sync")
        #expect(blockError(backend.flush()) == .io(.flush, errno: EIO))
        #expect(blockError(backend.flush()) == .flushFailedEarlier)
        #expect(blockError(backend.close()) == .flushFailedEarlier)
        #expect(throws: BlockError.closed) { try backend.read(sector: 0, count: 512).get() }
        #expect(blockError(backend.close()) == nil)
    }

    @Test func theRequestProcessorServesTheOverlay() throws {
        let base = try makeBase(sectors: 128)
        let backend = try CopyOnWriteBlockBackend(basePath: base.path, overlayPath: dir.path + "/overlay", serial: "containerdisk")
        let processor = BlockRequestProcessor(backend: backend)
        #expect(processor.config.capacitySectors == 128)
        #expect(processor.config.features & BlockFeature.discard != 0 && processor.config.features & BlockFeature.readOnly == 0)
        #expect(processor.write(sector: 3, blockPattern(512, seed: 9)) == BlockResponse(status: .ok))
        #expect(processor.read(sector: 3, bytes: 512) == BlockResponse(data: blockPattern(512, seed: 9), status: .ok))
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 3, sectorCount: 1, flags: 0)]).status == 0)
        #expect(processor.read(sector: 3, bytes: 512).data == [UInt8](repeating: 0, count: 512))
        #expect(processor.read(sector: 128, bytes: 512).status == BlockStatus.ioError.rawValue)
        #expect(blockError(processor.backend.close()) == nil)
        #expect(blockFileBytes(base.path) == base.bytes)
    }
}

/// The path a descriptor of this process refers to, from /proc/self/fd.
func descriptorPath(_ fd: Int32) -> String {
    var link = [UInt8](repeating: 0, count: 4096)
    let length = link.withUnsafeMutableBytes { readlink("/proc/self/fd/\(fd)", $0.baseAddress!, $0.count) }
    return length > 0 ? String(decoding: link[0..<length], as: UTF8.self) : ""
}
