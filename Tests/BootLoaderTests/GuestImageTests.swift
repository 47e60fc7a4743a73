// Loads the real test guests (guests/*.S built by guests/build.sh) with the loaders.
// The toolchain's clang builds them (TestSupport); a missing tool is a failure, not a skip.
import BootLoader
import Foundation
import GuestMemory
import Testing
import TestSupport

private func guestBytes(_ name: String) throws -> [UInt8] {
    let path = try GuestPrograms.directory().appendingPathComponent(name).path
    return [UInt8](try #require(FileManager.default.contents(atPath: path)))
}

@Suite
struct GuestImageTests {
    @Test func serialHelloLoads() throws {
        let memory = try GuestMemoryMap.anonymous(size: 0x40_0000)
        let state = try FlatX86Setup.prepare(memory, mode: .long64, entry: GuestAddress(0x10_0000))
        let loaded = try ELFLoader.load(try guestBytes("serial_hello.elf"), into: memory)
        #expect(loaded.elfClass == .elf64)
        #expect(loaded.entry == GuestAddress(state.rip))
        let image = try memory.read(count: Int(loaded.segments[0].length), at: loaded.segments[0].start)
        let message = Array("Hello from a Swift VMM guest\n".utf8)
        #expect(image.indices.contains { image[$0...].starts(with: message) })
    }

    @Test(arguments: ["hello_prot32", "hello_long64", "cpl3_iopl3", "pio_mmio", "dirty_pages",
                      "pio_loop_cpl3", "smp_id", "triple_fault", "serial_hello"])
    func everyELFGuestLoadsAtOneMiB(name: String) throws {
        let memory = try GuestMemoryMap.anonymous(size: 0x40_0000)
        let loaded = try ELFLoader.load(try guestBytes(name + ".elf"), into: memory)
        #expect(loaded.entry == GuestAddress(0x10_0000))
        #expect(loaded.elfClass == (name == "hello_prot32" ? .elf32 : .elf64))
        // The flat binary holds the same bytes as the ELF's loaded image.
        let flat = try guestBytes(name + ".bin")
        #expect(try memory.read(count: flat.count, at: GuestAddress(0x10_0000)) == flat)
    }

    @Test func realModeGuestLoadsFlat() throws {
        let memory = try GuestMemoryMap.anonymous(size: 0x10_0000)
        let state = try FlatX86Setup.prepare(memory, mode: .real, entry: FlatX86Layout.realModeLoadAddress)
        let range = try FlatBinaryLoader.load(try guestBytes("hello_real.bin"), at: FlatX86Layout.realModeLoadAddress,
                                              into: memory)
        #expect(range.start.raw == state.cs.base + state.rip)
    }
}
