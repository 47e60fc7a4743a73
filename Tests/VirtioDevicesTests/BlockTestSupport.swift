// Helpers for the block backend tests: temporary image files, raw file inspection, and scripted
// system calls for the failures a healthy disk never produces.
import Glibc
import Synchronization
import Testing
@testable import VirtioDevices

/// A temporary directory removed (with its files) when the value goes away.
final class BlockTempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/blk-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(made != nil, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    /// Creates `name` holding `contents`, or a sparse file of `sparseSize` bytes when contents is nil.
    func file(_ name: String, contents: [UInt8]? = nil, sparseSize: Int = 0, mode: mode_t = 0o644) throws -> String {
        let filePath = path + "/" + name
        let fd = open(filePath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        try #require(fd >= 0, "open \(filePath): errno \(errno)")
        defer { close(fd) }
        if let contents {
            let written = contents.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            try #require(written == contents.count)
        } else {
            try #require(ftruncate(fd, off_t(sparseSize)) == 0)
        }
        return filePath
    }
}

/// The whole file as bytes, read with plain Glibc so the backend under test is not involved.
func blockFileBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        out += chunk[0..<count]
    }
    return out
}

/// Allocated 512-byte blocks (st_blocks) of the file.
func blockAllocatedBlocks(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_blocks) : -1
}

/// lseek(SEEK_HOLE) from `offset`; SEEK_HOLE (4) is not imported by Swift's Glibc.
func blockNextHole(_ path: String, from offset: Int) -> Int {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return -1 }
    defer { close(fd) }
    return lseek(fd, off_t(offset), 4)
}

/// Bytes 1, 2, 3, … (mod 256) with a seed, so misplaced sectors show up.
func blockPattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed }
}

/// Counts calls made through a scripted `BlockSystemCalls`.
final class BlockCallLog: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func record(_ name: String) -> Int {
        counts.withLock { counts in
            counts[name, default: 0] += 1
            return counts[name]!
        }
    }
    func count(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }
}

extension BlockSystemCalls {
    /// The real calls, each logged, with optional overrides.
    static func logged(_ log: BlockCallLog) -> BlockSystemCalls {
        let system = BlockSystemCalls.system
        return BlockSystemCalls(
            pread: { fd, buffer, offset in _ = log.record("pread"); return system.pread(fd, buffer, offset) },
            pwrite: { fd, buffer, offset in _ = log.record("pwrite"); return system.pwrite(fd, buffer, offset) },
            fdatasync: { fd in _ = log.record("fdatasync"); return system.fdatasync(fd) },
            fallocate: { fd, mode, offset, length in
                _ = log.record("fallocate")
                return system.fallocate(fd, mode, offset, length)
            })
    }
}

/// A processor over a fresh backend; `readOnly` reopens the file read-only.
func blockProcessor(_ path: String, readOnly: Bool = false, serial: String = "",
                    calls: BlockSystemCalls = .system) throws -> BlockRequestProcessor {
    let backend = try BlockFileBackend(path: path, readOnly: readOnly, serial: serial, calls: calls)
    return BlockRequestProcessor(backend: backend)
}

extension BlockRequestProcessor {
    func read(sector: UInt64, bytes: Int) -> BlockResponse {
        handle(header: BlockRequestHeader(type: .read, sector: sector), readable: [], writableCapacity: bytes + 1)
    }
    func write(sector: UInt64, _ data: [UInt8]) -> BlockResponse {
        handle(header: BlockRequestHeader(type: .write, sector: sector), readable: data, writableCapacity: 1)
    }
    func segments(_ type: BlockRequestType, _ segments: [BlockDiscardSegment]) -> BlockResponse {
        handle(header: BlockRequestHeader(type: type, sector: 0),
               readable: segments.flatMap { $0.bytes() }, writableCapacity: 1)
    }
}

/// nil for success, else the error: `Result<Void, _>` is not Equatable.
func blockError(_ result: Result<Void, BlockError>) -> BlockError? {
    if case .failure(let error) = result { return error }
    return nil
}
