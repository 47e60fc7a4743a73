import BootLoader
import GuestMemory
import Testing

@Suite struct FlatX86SetupTests {
    private func preparedMemory() throws -> GuestMemoryMap {
        let memory = try GuestMemoryMap.anonymous(size: 0x10_0000)
        try FlatX86Setup.writeTables(into: memory)
        return memory
    }

    @Test func requiresOneMiBOfLowRAM() throws {
        let small = try GuestMemoryMap.anonymous(size: 0x8_0000)
        #expect(throws: FlatX86SetupError.notEnoughLowMemory(required: 0x10_0000)) {
            try FlatX86Setup.writeTables(into: small)
        }
        #expect(throws: FlatX86SetupError.notEnoughLowMemory(required: 0x10_0000)) {
            try FlatX86Setup.prepare(small, mode: .long64, entry: GuestAddress(0x10_0000))
        }
    }

    @Test func gdtIsBitExact() throws {
        let memory = try preparedMemory()
        // Written out by hand from the SDM's descriptor format, independently of FlatX86Layout.
        let expected: [UInt64] = [
            0x0000_0000_0000_0000,   // null
            0x00AF_9B00_0000_FFFF,   // 0x08 64-bit code DPL0
            0x00CF_9300_0000_FFFF,   // 0x10 data DPL0
            0x00CF_9B00_0000_FFFF,   // 0x18 32-bit code DPL0
            0x00CF_F300_0000_FFFF,   // 0x20 data DPL3
            0x00AF_FB00_0000_FFFF,   // 0x28 64-bit code DPL3
            0x0000_8B00_0600_0268,   // 0x30 TSS (busy) base 0x600 limit 0x268, low half
            0x0000_0000_0000_0000,   // 0x38 TSS high half (base[63:32])
        ]
        for (i, word) in expected.enumerated() {
            #expect(try memory.load(UInt64.self, at: GuestAddress(0x500 + UInt64(i) * 8)) == word, "GDT slot \(i)")
        }
        #expect(FlatX86Layout.gdtLimit == 0x3F)
    }

    @Test func tss() throws {
        let memory = try preparedMemory()
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x604)) == 0x7F000)   // RSP0
        #expect(try memory.load(UInt16.self, at: GuestAddress(0x666)) == 0x68)      // I/O bitmap offset
        // Ports 0x000-0xFFF allowed (0 bits), then the mandatory 0xFF terminator at 0x600 + 0x268.
        #expect(try memory.read(count: 0x200, at: GuestAddress(0x668)) == [UInt8](repeating: 0, count: 0x200))
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x868)) == 0xFF)
        #expect(FlatX86Layout.tssLimit == 0x268)
    }

    @Test func pageTablesIdentityMap4GiB() throws {
        let memory = try preparedMemory()
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x1000)) == 0x2027)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x1008)) == 0)
        for i in 0..<4 as Range<UInt64> {
            #expect(try memory.load(UInt64.self, at: GuestAddress(0x2000 + i * 8)) == (0x3000 + i * 0x1000) | 0x27)
        }
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x2020)) == 0)
        for i in 0..<2048 as Range<UInt64> {
            let entry = try memory.load(UInt64.self, at: GuestAddress(0x3000 + i * 8))
            #expect(entry == (i << 21) | 0xE7, "PD entry \(i)")
        }
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x6FF8)) == 0xFFE0_00E7)
    }

    @Test func realModeEntry() throws {
        let state = try FlatX86Setup.entryState(mode: .real, entry: GuestAddress(0x8000))
        #expect(state.mode == .real)
        #expect(state.cs == X86Segment.real(selector: 0x800, code: true))
        #expect(state.cs.base == 0x8000)
        #expect(state.rip == 0)
        #expect(state.ds.selector == 0x800)
        #expect(state.ss.base + state.rsp == 0x7F000)
        #expect(state.cr0 & 1 == 0)
        #expect(state.efer == 0)
        #expect(throws: FlatX86SetupError.invalidRealModeEntry(GuestAddress(0x8001))) {
            try FlatX86Setup.entryState(mode: .real, entry: GuestAddress(0x8001))
        }
        #expect(throws: FlatX86SetupError.invalidRealModeEntry(GuestAddress(0x10_0000))) {
            try FlatX86Setup.entryState(mode: .real, entry: GuestAddress(0x10_0000))
        }
    }

    @Test func protectedModeEntry() throws {
        let state = try FlatX86Setup.entryState(mode: .protected32, entry: GuestAddress(0x10_0000))
        #expect(state.rip == 0x10_0000)
        #expect(state.cr0 & 1 == 1)
        #expect(state.cr0 & 0x8000_0000 == 0)
        #expect(state.efer == 0)
        #expect(state.cs.selector == 0x18 && state.cs.db && state.cs.g && !state.cs.l && state.cs.limit == 0xFFFF_FFFF)
        #expect(state.ss.selector == 0x10 && state.ds.type == 0x3 && state.ds.db)
        #expect(state.rsp == 0x7F000)
        #expect(state.gdt == X86TableRegister(base: GuestAddress(0x500), limit: 0x3F))
        #expect(throws: FlatX86SetupError.entryAbove4GiB(GuestAddress(0x1_0000_0000))) {
            try FlatX86Setup.entryState(mode: .protected32, entry: GuestAddress(0x1_0000_0000))
        }
    }

    @Test func longModeEntry() throws {
        let state = try FlatX86Setup.entryState(mode: .long64, entry: GuestAddress(0x10_0000))
        #expect(state.mode == .long64)
        #expect(state.rip == 0x10_0000)
        #expect(state.rsp == 0x7F000)
        #expect(state.rflags == 0x2)
        #expect(state.cr0 == 0x8001_0033)
        #expect(state.cr3 == 0x1000)
        #expect(state.cr4 == 0x620)
        #expect(state.efer == 0x501)
        #expect(state.cs == X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, l: true, g: true))
        #expect(state.ds == X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true))
        #expect(state.tr == X86Segment(base: 0x600, limit: 0x268, selector: 0x30, type: 0xB, s: false))
        #expect(state.idt.limit == 0)
    }

    @Test func longModeUserEntry() {
        let state = FlatX86Setup.long64User(entry: GuestAddress(0x10_0000))
        #expect(state.cs.selector == 0x2B && state.cs.dpl == 3 && state.cs.l)
        #expect(state.ss.selector == 0x23 && state.ss.dpl == 3)
        #expect(state.rflags == 0x3002)
        #expect(state.cr3 == 0x1000)
    }
}
