// Guest mistakes and host failures: each becomes a status byte, the file stays as it was, nothing traps.
// EIO comes from scripted system calls: device-mapper's "error" target is not available here
// (/dev/mapper/control missing), and a healthy disk never returns it.
import Glibc
import Synchronization
import Testing
@testable import VirtioDevices

@Suite struct BlockGuestErrorTests {
    let dir: BlockTempDir
    let original = blockPattern(64 * 512)
    init() throws { dir = try BlockTempDir() }

    @Test func outOfRangeAndOverflowingSectorsAreIOErrorAndTouchNothing() throws {
        let path = try dir.file("disk.img", contents: original)
        let processor = try blockProcessor(path)
        let io = BlockStatus.ioError.rawValue
        for sector: UInt64 in [64, 63 + 1, UInt64.max, UInt64.max / 512, 1 << 55] {
            #expect(processor.read(sector: sector, bytes: 512).status == io)
            #expect(processor.write(sector: sector, blockPattern(512, seed: 9)).status == io)
            #expect(processor.segments(.discard, [BlockDiscardSegment(sector: sector, sectorCount: 1)]).status == io)
            #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: sector, sectorCount: 1)]).status == io)
        }
        // Straddling the end, and a later bad segment after a good one: nothing at all is changed.
        #expect(processor.write(sector: 63, blockPattern(1024, seed: 9)).status == io)
        let mixed = [BlockDiscardSegment(sector: 0, sectorCount: 8), BlockDiscardSegment(sector: 60, sectorCount: 8)]
        #expect(processor.segments(.writeZeroes, mixed).status == io)
        #expect(processor.segments(.discard, mixed).status == io)
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: .max, sectorCount: .max)]).status == io)
        #expect(blockFileBytes(path) == original)
    }

    @Test func misalignedLengthsAreIOError() throws {
        let path = try dir.file("disk.img", contents: original)
        let processor = try blockProcessor(path)
        #expect(processor.read(sector: 0, bytes: 100).error == .lengthNotSectorMultiple(100))
        #expect(processor.read(sector: 0, bytes: 513).status == BlockStatus.ioError.rawValue)
        #expect(processor.write(sector: 0, blockPattern(100)).error == .lengthNotSectorMultiple(100))
        #expect(blockFileBytes(path) == original)
    }

    @Test func malformedRequestsAreIOError() throws {
        let path = try dir.file("disk.img", contents: original)
        let processor = try blockProcessor(path)
        #expect(processor.handle(request: [0, 0, 0], writableCapacity: 513).error == .headerTooShort(3))
        let read = BlockRequestHeader(type: .read, sector: 0)
        #expect(processor.handle(header: read, readable: [], writableCapacity: 0).error == .noStatusByte)
        #expect(processor.handle(header: read, readable: [], writableCapacity: Int.max).error == .transferTooLong(Int.max - 1))
        #expect(processor.handle(header: read, readable: [], writableCapacity: -5).error == .noStatusByte)
        let discard = BlockRequestHeader(type: .discard, sector: 0)
        #expect(processor.handle(header: discard, readable: [1, 2, 3], writableCapacity: 1).error == .malformedSegments(byteCount: 3))
        #expect(processor.handle(header: discard, readable: [], writableCapacity: 1).error == .malformedSegments(byteCount: 0))
        let many = [BlockDiscardSegment](repeating: BlockDiscardSegment(sector: 0, sectorCount: 1), count: 17)
        #expect(processor.segments(.discard, many).error == .tooManySegments(17))
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 0, sectorCount: 1 << 23)]).error == .segmentTooLong(1 << 23))
        // A whole request in one array: header then data.
        let write = BlockRequestHeader(type: .write, sector: 1).bytes() + blockPattern(512, seed: 3)
        #expect(processor.handle(request: write, writableCapacity: 1).status == 0)
        #expect(Array(blockFileBytes(path)[512..<1024]) == blockPattern(512, seed: 3))
    }

    @Test func readOnlyDiskRefusesChangesButReadsAndFlushes() throws {
        let path = try dir.file("disk.img", contents: original, mode: 0o444)
        let processor = try blockProcessor(path, readOnly: true)
        #expect(processor.backend.readOnly && processor.config.features & BlockFeature.readOnly != 0)
        #expect(processor.write(sector: 0, blockPattern(512, seed: 5)).error == .readOnly)
        #expect(processor.segments(.discard, [BlockDiscardSegment(sector: 0, sectorCount: 8)]).error == .readOnly)
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 0, sectorCount: 8)]).error == .readOnly)
        let flush = BlockRequestHeader(type: .flush, sector: 0)
        #expect(processor.handle(header: flush, readable: [], writableCapacity: 1) == BlockResponse(status: .ok))
        #expect(processor.read(sector: 1, bytes: 512).data == Array(original[512..<1024]))
        #expect(blockError(processor.backend.close()) == nil)
        #expect(blockFileBytes(path) == original)
    }
}

@Suite struct BlockHostErrorTests {
    let dir: BlockTempDir
    init() throws { dir = try BlockTempDir() }

    @Test func shortTransfersAndEINTRAreRetriedToCompletion() throws {
        let path = try dir.file("disk.img", sparseSize: 32 * 512)
        let log = BlockCallLog()
        // Every other call is interrupted; the rest move at most 100 bytes.
        let calls = BlockSystemCalls(
            pread: { fd, buffer, offset in
                if log.record("pread") % 2 == 1 { return .failed(errno: EINTR) }
                return BlockSystemCalls.system.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(100)), offset)
            },
            pwrite: { fd, buffer, offset in
                if log.record("pwrite") % 2 == 1 { return .failed(errno: EINTR) }
                return BlockSystemCalls.system.pwrite(fd, UnsafeRawBufferPointer(rebasing: buffer.prefix(100)), offset)
            },
            fdatasync: { fd in log.record("fdatasync") % 2 == 1 ? .failed(errno: EINTR) : .done(0) },
            fallocate: BlockSystemCalls.system.fallocate)
        let processor = try blockProcessor(path, calls: calls)
        let data = blockPattern(4 * 512, seed: 11)
        #expect(processor.write(sector: 3, data) == BlockResponse(status: .ok))
        #expect(log.count("pwrite") == 2 * 21)  // 2048 bytes in 100-byte pieces, each after an EINTR
        #expect(processor.read(sector: 3, bytes: 4 * 512) == BlockResponse(data: data, status: .ok))
        #expect(log.count("pread") == 2 * 21)
        #expect(blockError(processor.backend.flush()) == nil)
        #expect(Array(blockFileBytes(path)[(3 * 512)..<(7 * 512)]) == data)
    }

    @Test func eioFromTheHostIsIOErrorForTheGuest() throws {
        let path = try dir.file("disk.img", contents: blockPattern(16 * 512))
        var calls = BlockSystemCalls.system
        calls.pread = { _, _, _ in .failed(errno: EIO) }
        calls.pwrite = { _, _, _ in .failed(errno: EIO) }
        calls.fallocate = { _, _, _, _ in .failed(errno: EIO) }
        let processor = try blockProcessor(path, calls: calls)
        #expect(processor.read(sector: 0, bytes: 512) == BlockResponse(status: .ioError, error: .io(.read, errno: EIO)))
        #expect(processor.write(sector: 0, blockPattern(512)).error == .io(.write, errno: EIO))
        #expect(processor.segments(.discard, [BlockDiscardSegment(sector: 0, sectorCount: 1)]).error == .io(.punchHole, errno: EIO))
        #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 0, sectorCount: 1)]).error == .io(.zeroRange, errno: EIO))
        // Impossible counts from the call are errors, not out-of-bounds slicing or endless loops.
        var odd = BlockSystemCalls.system
        odd.pread = { _, buffer, _ in .done(buffer.count + 1) }
        odd.pwrite = { _, _, _ in .done(0) }
        let oddProcessor = try blockProcessor(path, calls: odd)
        #expect(oddProcessor.read(sector: 0, bytes: 512).error == .io(.read, errno: EIO))
        #expect(oddProcessor.write(sector: 0, blockPattern(512)).error == .io(.write, errno: ENOSPC))
        #expect(blockFileBytes(path) == blockPattern(16 * 512))
    }

    @Test func aFailedFlushKeepsFailing() throws {
        let path = try dir.file("disk.img", sparseSize: 8 * 512)
        let failNext = Mutex(true)
        var calls = BlockSystemCalls.system
        calls.fdatasync = { fd in
            failNext.withLock { fail in
                defer { fail = false }
                return fail ? .failed(errno: EIO) : BlockSystemCalls.system.fdatasync(fd)
            }
        }
        let processor = try blockProcessor(path, calls: calls)
        let flush = BlockRequestHeader(type: .flush, sector: 0)
        #expect(processor.handle(header: flush, readable: [], writableCapacity: 1).error == .io(.flush, errno: EIO))
        // fdatasync would now succeed, but the data it lost is gone: the guest must keep hearing so.
        #expect(processor.handle(header: flush, readable: [], writableCapacity: 1).error == .flushFailedEarlier)
        #expect(blockError(processor.backend.close()) == .flushFailedEarlier)
    }

    /// A 64 KiB tmpfs holds a 1 MiB sparse disk: writes beyond the tmpfs space fail with ENOSPC.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func enospcFromAFullFileSystemIsIOError() throws {
        let mountPoint = dir.path + "/small"
        try #require(mkdir(mountPoint, 0o755) == 0)
        defer { rmdir(mountPoint) }
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") == 0 else {
            print("skipped: mount tmpfs failed with errno \(errno)")
            return
        }
        defer { umount(mountPoint) }
        let path = mountPoint + "/disk.img"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        try #require(fd >= 0)
        try #require(ftruncate(fd, 1 << 20) == 0)
        close(fd)
        let processor = try blockProcessor(path)
        let data = blockPattern(128 * 1024, seed: 4)
        let response = processor.write(sector: 0, data)
        #expect(response.status == BlockStatus.ioError.rawValue)
        #expect(response.error == .io(.write, errno: ENOSPC))
        // The device keeps working: what fits is still written and read back.
        #expect(processor.segments(.discard, [BlockDiscardSegment(sector: 0, sectorCount: 2048)]).status == 0)
        #expect(processor.write(sector: 8, blockPattern(4096, seed: 6)).status == 0)
        #expect(processor.read(sector: 8, bytes: 4096).data == blockPattern(4096, seed: 6))
        #expect(blockError(processor.backend.close()) == nil)
    }
}

/// A loop device over a 1 MiB file: capacity comes from BLKGETSIZE64, I/O reaches the file.
/// LOOP_CTL_GET_FREE (0x4C82), LOOP_SET_FD (0x4C00) and LOOP_CLR_FD (0x4C01) from <linux/loop.h>.
@Test(.enabled(if: getuid() == 0 && access("/dev/loop-control", R_OK | W_OK) == 0, "needs root and /dev/loop-control"))
func blockDeviceBackendUsesTheDeviceSize() throws {
    let dir = try BlockTempDir()
    let image = try dir.file("disk.img", contents: blockPattern(1 << 20))
    let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
    try #require(control >= 0)
    defer { close(control) }
    let number = ioctl(control, 0x4C82, 0)
    let loopPath = "/dev/loop\(number)"
    let loop = open(loopPath, O_RDWR | O_CLOEXEC)
    let backing = open(image, O_RDWR | O_CLOEXEC)
    defer { if backing >= 0 { close(backing) } }
    guard number >= 0, loop >= 0, backing >= 0, ioctl(loop, 0x4C00, backing) == 0 else {
        print("skipped: no free loop device node (\(loopPath)): errno \(errno)")
        if loop >= 0 { close(loop) }
        return
    }
    defer {
        _ = ioctl(loop, 0x4C01, 0)
        close(loop)
    }
    let processor = try blockProcessor(loopPath, serial: "loop")
    #expect((processor.backend as? BlockFileBackend)?.isBlockDevice == true)
    #expect(processor.backend.capacitySectors == 2048)
    #expect(processor.read(sector: 2047, bytes: 512).data == Array(blockPattern(1 << 20)[(2047 * 512)...]))
    #expect(processor.write(sector: 0, blockPattern(4096, seed: 2)).status == 0)
    #expect(processor.segments(.writeZeroes, [BlockDiscardSegment(sector: 8, sectorCount: 8)]).status == 0)
    #expect(processor.read(sector: 2048, bytes: 512).status == BlockStatus.ioError.rawValue)
    #expect(blockError(processor.backend.close()) == nil)
    let file = blockFileBytes(image)
    #expect(Array(file[0..<4096]) == blockPattern(4096, seed: 2))
    #expect(file[4096..<8192].allSatisfy { $0 == 0 })
}
