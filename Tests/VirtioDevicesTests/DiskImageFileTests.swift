// emptyDisk and hostDisk files: created sparse, grown only where allowed, never truncated.
import Glibc
import Testing
@testable import VirtioDevices

@Suite struct DiskImageFileTests {
    let dir: BlockTempDir
    init() throws { dir = try BlockTempDir() }

    func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : -1
    }

    @Test func emptyDiskIsCreatedSparseAndUsableAsADisk() throws {
        let path = dir.path + "/empty.img"
        #expect(try DiskImageFile.createEmptyDisk(path: path, capacityBytes: 64 << 20) == .created)
        #expect(size(path) == 64 << 20)
        #expect(blockAllocatedBlocks(path) == 0)
        let backend = try BlockFileBackend(path: path)
        #expect(backend.capacitySectors == UInt64(64 << 20) / 512)
    }

    @Test func emptyDiskGrowsASmallerFileKeepingItsDataAndRefusesToShrink() throws {
        let path = try dir.file("empty.img", contents: blockPattern(4096))
        #expect(try DiskImageFile.createEmptyDisk(path: path, capacityBytes: 8192) == .extended(fromBytes: 4096))
        #expect(blockFileBytes(path) == blockPattern(4096) + [UInt8](repeating: 0, count: 4096))
        #expect(try DiskImageFile.createEmptyDisk(path: path, capacityBytes: 8192) == .existing(bytes: 8192))
        #expect(throws: BlockError.wouldShrink(path: path, currentBytes: 8192, requestedBytes: 4096)) {
            try DiskImageFile.createEmptyDisk(path: path, capacityBytes: 4096)
        }
        #expect(blockFileBytes(path) == blockPattern(4096) + [UInt8](repeating: 0, count: 4096))
    }

    @Test func hostDiskOrCreateNeverChangesAnExistingFile() throws {
        let missing = dir.path + "/host.img"
        #expect(try DiskImageFile.openOrCreateHostDisk(path: missing, capacityBytes: 1 << 20) == .created)
        #expect(size(missing) == 1 << 20)
        let existing = try dir.file("existing.img", contents: blockPattern(3000))
        #expect(try DiskImageFile.openOrCreateHostDisk(path: existing, capacityBytes: 1 << 20) == .existing(bytes: 3000))
        #expect(try DiskImageFile.openOrCreateHostDisk(path: existing, capacityBytes: 100) == .existing(bytes: 3000))
        #expect(blockFileBytes(existing) == blockPattern(3000))
    }

    @Test func failuresNameTheOperation() throws {
        #expect(throws: BlockError.io(.create, errno: ENOENT)) {
            try DiskImageFile.createEmptyDisk(path: dir.path + "/no/such/dir.img", capacityBytes: 4096)
        }
        #expect(throws: BlockError.io(.open, errno: EISDIR)) {
            try DiskImageFile.openOrCreateHostDisk(path: dir.path, capacityBytes: 4096)
        }
    }
}
