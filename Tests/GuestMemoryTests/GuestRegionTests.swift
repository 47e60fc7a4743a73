import Glibc
import SystemPackage
import Testing
@testable import GuestMemory

@Suite("GuestRegion creation and backings")
struct GuestRegionTests {
    @Test func sizesMustBePageMultiples() {
        #expect(throws: GuestMemoryError.sizeNotPageMultiple(4097)) {
            try GuestRegion.anonymous(at: GuestAddress(0), size: 4097)
        }
        #expect(throws: GuestMemoryError.sizeNotPageMultiple(100)) {
            try GuestRegion.memfd(at: GuestAddress(0), size: 100, name: "t")
        }
        // Huge pages need 2 MiB multiples.
        #expect(throws: GuestMemoryError.sizeNotPageMultiple(4096)) {
            try GuestRegion.anonymous(at: GuestAddress(0), size: 4096, hugePages: true)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(0), length: 0)) {
            try GuestRegion.anonymous(at: GuestAddress(0), size: 0)
        }
    }

    @Test func startMustBePageAlignedAndRangeMustNotWrap() {
        #expect(throws: GuestMemoryError.misaligned(address: GuestAddress(0x800), alignment: 4096)) {
            try GuestRegion.anonymous(at: GuestAddress(0x800), size: 4096)
        }
        #expect(throws: GuestMemoryError.invalidRange(start: GuestAddress(.max - 0xFFF), length: 0x2000)) {
            try GuestRegion.anonymous(at: GuestAddress(.max - 0xFFF), size: 0x2000)
        }
    }

    @Test func anonymousProperties() throws {
        let region = try GuestRegion.anonymous(at: GuestAddress(0x4000), size: 0x3000)
        #expect(region.start == GuestAddress(0x4000))
        #expect(region.size == 0x3000)
        #expect(region.range.last == GuestAddress(0x6FFF))
        #expect(!region.hugePages)
        guard case .anonymous = region.backing else {
            Issue.record("expected anonymous backing, got \(region.backing)")
            return
        }
        #expect(unsafe region.hostAddress % 4096 == 0)
        #expect(unsafe region.hostAddress != 0)
    }

    @Test func memfdIsSizeSealed() throws {
        let region = try GuestRegion.memfd(at: GuestAddress(0), size: 0x2000, name: "gm-test")
        guard case .memfd(let fd) = region.backing else {
            Issue.record("expected memfd backing")
            return
        }
        // errno is captured right after each call, before the testing library can touch it.
        let grow = ftruncate(fd.rawValue, 0x4000)
        let growErrno = errno
        let shrink = ftruncate(fd.rawValue, 0x1000)
        let shrinkErrno = errno
        #expect(grow == -1 && growErrno == EPERM)
        #expect(shrink == -1 && shrinkErrno == EPERM)
        let seals = fcntl(fd.rawValue, LinuxABI.fGetSeals)
        #expect(seals & (LinuxABI.fSealShrink | LinuxABI.fSealGrow) == (LinuxABI.fSealShrink | LinuxABI.fSealGrow))
        // Close-on-exec, so a spawned helper does not inherit guest RAM by accident.
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func memfdSharesDataWithSecondMapping() throws {
        let size = 0x2000
        let region = try GuestRegion.memfd(at: GuestAddress(0x10000), size: UInt64(size), name: "gm-share")
        let map = try GuestMemoryMap(regions: [region])
        guard case .memfd(let fd) = region.backing else {
            Issue.record("expected memfd backing")
            return
        }
        let mapped = unsafe mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0)
        let other = try #require(unsafe mapped)
        #expect(unsafe other != MAP_FAILED)
        defer { _ = unsafe munmap(other, size) }
        // Guest write seen by the other mapping...
        try map.store(UInt32(0xCAFE_F00D), at: GuestAddress(0x11000))
        #expect(unsafe other.load(fromByteOffset: 0x1000, as: UInt32.self) == UInt32(0xCAFE_F00D).littleEndian)
        // ...and the other mapping's write seen by the guest.
        unsafe other.storeBytes(of: 0x5A, toByteOffset: 0x1FFF, as: UInt8.self)
        #expect(try map.read(count: 1, at: GuestAddress(0x11FFF)) == [0x5A])
    }

    @Test func fileBackedSharedWritesReachTheFile() throws {
        let fd = try temporaryFile(size: 0x3000)
        defer { try? fd.close() }
        // Map the second page of the file at guest 0x8000.
        let region = try GuestRegion.file(at: GuestAddress(0x8000), size: 0x1000, fd: fd, offset: 0x1000, shared: true)
        guard case .file(let backingFD, let offset) = region.backing else {
            Issue.record("expected file backing")
            return
        }
        #expect(backingFD == fd && offset == 0x1000)
        let map = try GuestMemoryMap(regions: [region])
        try map.write([1, 2, 3, 4], at: GuestAddress(0x8010))
        #expect(try readFile(fd, at: 0x1010, count: 4) == [1, 2, 3, 4])
        #expect(try readFile(fd, at: 0x0010, count: 4) == [0, 0, 0, 0])  // first page untouched
        // And file contents appear in the guest.
        _ = try fd.writeAll(toAbsoluteOffset: 0x1FFC, [9, 8, 7, 6])
        #expect(try map.read(count: 4, at: GuestAddress(0x8FFC)) == [9, 8, 7, 6])
    }

    @Test func fileBackedPrivateWritesStayPrivate() throws {
        let fd = try temporaryFile(size: 0x1000)
        defer { try? fd.close() }
        let map = try GuestMemoryMap(regions: [
            .file(at: GuestAddress(0), size: 0x1000, fd: fd, offset: 0, shared: false),
        ])
        try map.write([0xFF], at: GuestAddress(0))
        #expect(try map.read(count: 1, at: GuestAddress(0)) == [0xFF])
        #expect(try readFile(fd, at: 0, count: 1) == [0])
    }

    @Test func fileTooShortOrBadOffsetRejected() throws {
        let fd = try temporaryFile(size: 0x1000)
        defer { try? fd.close() }
        // Would SIGBUS on touch past EOF: refused at creation.
        #expect(throws: GuestMemoryError.self) {
            try GuestRegion.file(at: GuestAddress(0), size: 0x2000, fd: fd, offset: 0, shared: true)
        }
        #expect(throws: GuestMemoryError.self) {
            try GuestRegion.file(at: GuestAddress(0), size: 0x1000, fd: fd, offset: 0x1000, shared: true)
        }
        #expect(throws: GuestMemoryError.self) {
            try GuestRegion.file(at: GuestAddress(0), size: 0x1000, fd: fd, offset: 0x800, shared: true)
        }
        #expect(throws: GuestMemoryError.self) {
            try GuestRegion.file(at: GuestAddress(0), size: 0x1000, fd: fd, offset: .max & ~0xFFF, shared: true)
        }
        // A closed descriptor is a system error, with fstat's errno.
        let closed = try temporaryFile(size: 0x1000)
        try closed.close()
        #expect(throws: GuestMemoryError.system(operation: "fstat", errno: .badFileDescriptor)) {
            try GuestRegion.file(at: GuestAddress(0), size: 0x1000, fd: closed, offset: 0, shared: true)
        }
    }

    @Test(arguments: [false, true])
    func hugePagesWorkOrFailWithSystemError(memfd: Bool) throws {
        let size: UInt64 = 2 << 20
        let result: Result<GuestRegion, GuestMemoryError>
        do {
            let region = memfd
                ? try GuestRegion.memfd(at: GuestAddress(0), size: size, name: "gm-huge", hugePages: true)
                : try GuestRegion.anonymous(at: GuestAddress(0), size: size, hugePages: true)
            result = .success(region)
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let region):
            // Huge pages are available: the region must be usable end to end.
            #expect(region.hugePages)
            let map = try GuestMemoryMap(regions: [region])
            try map.store(UInt64(0x1234), at: GuestAddress(size - 8))
            #expect(try map.load(UInt64.self, at: GuestAddress(size - 8)) == 0x1234)
        case .failure(.system(let operation, let errno)):
            // No huge pages reserved on this host: a clean error naming the call, not a crash.
            #expect(["mmap", "memfd_create", "ftruncate"].contains(operation))
            #expect(errno.rawValue != 0)
        case .failure(let other):
            Issue.record("huge pages must either work or fail with .system, got \(other)")
        }
    }
}

/// An unlinked temporary file of `size` zero bytes.
func temporaryFile(size: Int64) throws -> FileDescriptor {
    var template = Array("/tmp/guestmemory-test-XXXXXX".utf8CString)
    let raw = unsafe template.withUnsafeMutableBufferPointer { unsafe mkstemp($0.baseAddress!) }
    guard raw >= 0 else { throw Errno(rawValue: errno) }
    _ = unsafe template.withUnsafeBufferPointer { unsafe unlink($0.baseAddress!) }
    let fd = FileDescriptor(rawValue: raw)
    guard ftruncate(raw, off_t(size)) == 0 else { throw Errno(rawValue: errno) }
    return fd
}

func readFile(_ fd: FileDescriptor, at offset: Int64, count: Int) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0xAA, count: count)
    let got = try unsafe bytes.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: offset, into: $0) }
    return Array(bytes[0..<got])
}
