import BootLoader
import GuestMemory
import Testing

@Suite struct FlatBinaryLoaderTests {
    @Test func loadsAtAddress() throws {
        let memory = try GuestMemoryMap.anonymous(size: 0x10_0000)
        let range = try FlatBinaryLoader.load([1, 2, 3], at: GuestAddress(0x8000), into: memory)
        #expect(range == GuestRange(start: GuestAddress(0x8000), length: 3))
        #expect(try memory.read(count: 3, at: GuestAddress(0x8000)) == [1, 2, 3])
    }

    @Test func bounds() throws {
        let memory = try GuestMemoryMap.anonymous(size: 0x10_0000)
        // Ending exactly at the end of RAM is fine; one byte more is not.
        _ = try FlatBinaryLoader.load([9, 9], at: GuestAddress(0xF_FFFE), into: memory)
        #expect(throws: ImageLoadError.imageOutsideMemory(address: GuestAddress(0xF_FFFF), length: 2)) {
            try FlatBinaryLoader.load([9, 9], at: GuestAddress(0xF_FFFF), into: memory)
        }
        #expect(throws: ImageLoadError.imageOutsideMemory(address: GuestAddress(UInt64.max), length: 2)) {
            try FlatBinaryLoader.load([9, 9], at: GuestAddress(UInt64.max), into: memory)
        }
        #expect(throws: ImageLoadError.emptyImage) {
            try FlatBinaryLoader.load([], at: GuestAddress(0), into: memory)
        }
        #expect(try memory.load(UInt8.self, at: GuestAddress(0xF_FFFF)) == 9)
    }
}
