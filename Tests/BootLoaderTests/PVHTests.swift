import BootLoader
import GuestMemory
import Testing

@Suite struct PVHTests {
    @Test func detectsPhys32EntryNote8Bytes() throws {
        let notes = [elfNote(name: "GNU", type: 3, descriptor: [1, 2, 3, 4, 5]), pvhNote(0x10_0008)]
        let file = elfWithNotes(notes).build()
        #expect(try PVHLoader.entryPoint(elf: file) == GuestAddress(0x10_0008))
        let parsed = try ELFLoader.notes(file)
        #expect(parsed.map(\.name) == ["GNU", "Xen"])
        #expect(parsed[0].descriptor == [1, 2, 3, 4, 5])
        #expect(parsed[1].type == 18)
        #expect(parsed[1].programHeader == 1)
    }

    @Test func detectsPhys32EntryNote4BytesInELF32() throws {
        let file = elfWithNotes([pvhNote(0x10_0004, size: 4)], is64: false).build()
        #expect(try PVHLoader.entryPoint(elf: file) == GuestAddress(0x10_0004))
    }

    @Test func noNoteMeansNoPVH() throws {
        #expect(try PVHLoader.entryPoint(elf: ELFBuilder.valid().build()) == nil)
        // A Xen note of another type, or type 18 under another owner, is not the entry.
        let others = [elfNote(name: "Xen", type: 17, descriptor: [0, 0, 0, 1]),
                      elfNote(name: "Linux", type: 18, descriptor: [0, 0, 0, 1])]
        #expect(try PVHLoader.entryPoint(elf: elfWithNotes(others).build()) == nil)
    }

    @Test func hostileNotes() throws {
        #expect(throws: LinuxLoadError.pvhEntryNoteBadSize(2)) {
            try PVHLoader.entryPoint(elf: elfWithNotes([pvhNote(0x10_0000, size: 2)]).build())
        }
        #expect(throws: LinuxLoadError.pvhEntryAbove4GiB(0x1_0000_0000)) {
            try PVHLoader.entryPoint(elf: elfWithNotes([pvhNote(0x1_0000_0000)]).build())
        }
        // descsz claims more than the segment holds.
        var lying = pvhNote(0x10_0000)
        putLE(&lying, 4, UInt32(0xFFFF_FFF0))
        #expect(throws: LinuxLoadError.self) { try PVHLoader.entryPoint(elf: elfWithNotes([lying]).build()) }
        // namesz huge.
        var hugeName = pvhNote(0x10_0000)
        putLE(&hugeName, 0, UInt32.max)
        #expect(throws: LinuxLoadError.self) { try PVHLoader.entryPoint(elf: elfWithNotes([hugeName]).build()) }
        // PT_NOTE pointing past the end of the file.
        var outside = elfWithNotes([pvhNote(0x10_0000)])
        outside.segments[1].offset = 0x10_0000
        #expect(throws: LinuxLoadError.elf(.segmentOutsideFile(index: 1))) {
            try PVHLoader.entryPoint(elf: outside.build())
        }
        // Random corruption of the note bytes never traps.
        let base = elfWithNotes([pvhNote(0x10_0000), elfNote(name: "GNU", type: 1, descriptor: [9])]).build()
        for _ in 0..<2000 {
            var file = base
            file[0x210 + Int.random(in: 0..<44)] = UInt8.random(in: 0...255)
            _ = try? PVHLoader.entryPoint(elf: file)
        }
    }

    @Test func startInfoFieldsAtDocumentedOffsets() throws {
        let e820 = E820Map(ramRegions: [GuestRange(start: GuestAddress(0), length: mib(64))!])
        let initrd = GuestRange(start: GuestAddress(0x3F0_0000), length: 0x1234)
        let info = PVHLoader.StartInfo(commandLine: GuestAddress(0x2_0000), rsdp: GuestAddress(0xE_0000),
                                       initrd: initrd, memoryMap: e820)
        let memory = try GuestMemoryMap.anonymous(size: mib(2))
        let written = try info.write(to: memory)
        #expect(written.map(\.name) == ["hvm_start_info", "hvm_modlist", "hvm_memmap"])

        let start = try memory.read(count: 56, at: GuestAddress(0x8000))
        #expect(le(start, 0, as: UInt32.self) == 0x336E_C578)         // magic
        #expect(le(start, 4, as: UInt32.self) == 1)                   // version
        #expect(le(start, 8, as: UInt32.self) == 0)                   // flags
        #expect(le(start, 12, as: UInt32.self) == 1)                  // nr_modules
        #expect(le(start, 16, as: UInt64.self) == 0x8040)             // modlist_paddr
        #expect(le(start, 24, as: UInt64.self) == 0x2_0000)           // cmdline_paddr
        #expect(le(start, 32, as: UInt64.self) == 0xE_0000)           // rsdp_paddr
        #expect(le(start, 40, as: UInt64.self) == 0x8100)             // memmap_paddr
        #expect(le(start, 48, as: UInt32.self) == 2)                  // memmap_entries
        #expect(le(start, 52, as: UInt32.self) == 0)                  // reserved

        let module = try memory.read(count: 32, at: GuestAddress(0x8040))
        #expect(le(module, 0, as: UInt64.self) == 0x3F0_0000)         // paddr
        #expect(le(module, 8, as: UInt64.self) == 0x1234)             // size
        #expect(le(module, 16, as: UInt64.self) == 0)                 // cmdline_paddr
        #expect(le(module, 24, as: UInt64.self) == 0)                 // reserved

        let memmap = try memory.read(count: 48, at: GuestAddress(0x8100))
        #expect(le(memmap, 0, as: UInt64.self) == 0)                  // addr
        #expect(le(memmap, 8, as: UInt64.self) == 0x9_FC00)           // size
        #expect(le(memmap, 16, as: UInt32.self) == 1)                 // type RAM
        #expect(le(memmap, 20, as: UInt32.self) == 0)                 // reserved
        #expect(le(memmap, 24, as: UInt64.self) == 0x10_0000)
        #expect(le(memmap, 32, as: UInt64.self) == mib(63))
        #expect(le(memmap, 40, as: UInt32.self) == 1)
        #expect(le(memmap, 44, as: UInt32.self) == 0)
    }

    @Test func startInfoWithoutInitrdOrRSDP() {
        let info = PVHLoader.StartInfo(commandLine: nil, rsdp: nil, initrd: nil, memoryMap: E820Map())
        let bytes = info.startInfoBytes()
        #expect(le(bytes, 12, as: UInt32.self) == 0)
        #expect(le(bytes, 16, as: UInt64.self) == 0)
        #expect(le(bytes, 24, as: UInt64.self) == 0)
        #expect(le(bytes, 32, as: UInt64.self) == 0)
        #expect(info.modlistBytes().isEmpty)
    }
}
