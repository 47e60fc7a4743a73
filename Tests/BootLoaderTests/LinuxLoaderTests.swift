import BootLoader
import GuestMemory
import Testing

private let cmdline = "console=ttyS0 panic=-1"

@Suite struct LinuxLoaderTests {
    @Test func elfWithPVHNoteBootsThroughPVH() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let kernel = elfWithNotes([pvhNote(0x10_0008)]).build()
        let initrd = [UInt8](repeating: 0x5A, count: 0x2345)
        let result = try LinuxLoader.load(kernel: kernel, initrd: initrd, cmdline: cmdline, memory: memory)
        #expect(result.bootProtocol == .pvh)
        let state = result.entryState
        #expect(state.mode == .protected32)
        #expect(state.rip == 0x10_0008)
        #expect(state.rbx == 0x8000)
        #expect(state.cr0 & 1 == 1 && state.cr0 & (1 << 31) == 0)   // PE on, paging off
        #expect(state.cs.db && !state.cs.l && state.cs.limit == 0xFFFF_FFFF && state.cs.base == 0)
        #expect(state.cs.selector == LinuxLayout.bootCode32Selector)
        #expect(state.ds.selector == LinuxLayout.bootDataSelector && state.ss == state.ds)
        #expect(state.tr.type == 0xB && state.tr.base == 0x9080)
        #expect(state.efer == 0 && state.cr4 == 0)
        #expect(state.rflags == 0x2)
        // The initrd sits page-aligned at the top of RAM.
        #expect(result.initrd == GuestRange(start: GuestAddress((mib(64) - 0x2345) & ~0xFFF), length: 0x2345))
        #expect(try memory.read(count: 0x2345, at: result.initrd!.start) == initrd)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x8000)) == 0x336E_C578)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x8040)) == result.initrd!.start.raw)
        #expect(try memory.read(count: cmdline.utf8.count + 1, at: GuestAddress(0x2_0000)) == Array(cmdline.utf8) + [0])
        #expect(result.commandLine == GuestRange(start: GuestAddress(0x2_0000), length: UInt64(cmdline.utf8.count + 1)))
        // GDT entry for the PVH code selector is flat 32-bit code.
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x9030)) == 0x00CF_9B00_0000_FFFF)
        #expect(Set(result.written.map(\.name)) ==
                ["kernel", "gdt", "tss", "page tables", "command line", "initrd", "hvm_start_info", "hvm_modlist", "hvm_memmap"])
    }

    @Test func elfWithoutNoteUses64BitProtocol() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let result = try LinuxLoader.load(kernel: ELFBuilder.valid().build(), initrd: nil, cmdline: cmdline,
                                          memory: memory, options: LinuxBootOptions(rsdp: GuestAddress(0xE_0000)))
        #expect(result.bootProtocol == .elf64)
        let state = result.entryState
        #expect(state.mode == .long64)
        #expect(state.rip == 0x10_0000)
        #expect(state.rsi == 0x7000)
        #expect(state.cs.selector == 0x10 && state.cs.l && !state.cs.db)
        #expect(state.ds.selector == 0x18 && state.es.selector == 0x18 && state.ss.selector == 0x18)
        #expect(state.cr3 == 0xA000 && state.cr4 & (1 << 5) != 0 && state.cr0 & (1 << 31) != 0)
        #expect(state.efer & (1 << 8) != 0 && state.efer & (1 << 10) != 0)
        #expect(state.gdt == X86TableRegister(base: GuestAddress(0x9000), limit: 55))
        #expect(result.initrd == nil)
        #expect(try memory.load(UInt16.self, at: GuestAddress(0x71FE)) == 0xAA55)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x7228)) == 0x2_0000)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x7070)) == 0xE_0000)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x7218)) == 0)
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x71E8)) == 2)
        // GDT: __BOOT_CS and __BOOT_DS; page tables identity-map with 2 MiB pages, no User bit.
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x9010)) == 0x00AF_9B00_0000_FFFF)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x9018)) == 0x00CF_9300_0000_FFFF)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0xA000)) == 0xB023)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0xB018)) == 0xF023)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0xC008)) == 0x20_00E3)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0xFFF8)) == 0xFFE0_00E3)
    }

    @Test func allowPVHFalseForcesBootParams() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        let result = try LinuxLoader.load(kernel: elfWithNotes([pvhNote(0x10_0008)]).build(), initrd: nil,
                                          cmdline: "", memory: memory, options: LinuxBootOptions(allowPVH: false))
        #expect(result.bootProtocol == .elf64)
        #expect(result.entryState.rip == 0x10_0000)
    }

    @Test func bzImageBootsAtLoadPlus0x200() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let file = BzImageBuilder().build()
        let initrd = [UInt8](repeating: 1, count: 0x1000)
        let result = try LinuxLoader.load(kernel: file, initrd: initrd, cmdline: cmdline, memory: memory)
        #expect(result.bootProtocol == .bzImage64)
        #expect(result.entryState.rip == 0x10_0200)
        #expect(result.entryState.rsi == 0x7000)
        #expect(result.initrd == GuestRange(start: GuestAddress(mib(64) - 0x1000), length: 0x1000))
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x71F1)) == 3)              // setup_sects copied
        #expect(try memory.load(UInt16.self, at: GuestAddress(0x7206)) == 0x020F)        // version copied
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x7210)) == 0xFF)
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x7211)) == 0x81)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x7218)) == UInt32(mib(64) - 0x1000))
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x721C)) == 0x1000)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x7228)) == 0x2_0000)
    }

    @Test func bzImageInitrdRespectsInitrdAddrMax() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        var b = BzImageBuilder()
        b.initrdAddrMax = UInt32(mib(40) - 1)
        let result = try LinuxLoader.load(kernel: b.build(), initrd: [1, 2, 3], cmdline: "", memory: memory)
        #expect(result.initrd == GuestRange(start: GuestAddress(mib(40) - 0x1000), length: 3))
    }

    @Test func commandLineLimits() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        var b = BzImageBuilder()
        b.cmdlineSize = 10
        #expect(throws: LinuxLoadError.commandLineTooLong(length: 11, limit: 10)) {
            try LinuxLoader.load(kernel: b.build(), initrd: nil, cmdline: "0123456789A", memory: memory)
        }
        _ = try LinuxLoader.load(kernel: b.build(), initrd: nil, cmdline: "0123456789", memory: memory)
        let long = String(repeating: "x", count: 2048)
        #expect(throws: LinuxLoadError.commandLineTooLong(length: 2048, limit: 2047)) {
            try LinuxLoader.load(kernel: ELFBuilder.valid().build(), initrd: nil, cmdline: long, memory: memory)
        }
        #expect(throws: LinuxLoadError.commandLineContainsNUL) {
            try LinuxLoader.load(kernel: ELFBuilder.valid().build(), initrd: nil, cmdline: "a\u{0}b", memory: memory)
        }
    }

    @Test func initrdPlacement() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let kernelTop = GuestRange(start: GuestAddress(mib(60)), length: mib(4))!
        // Walks down below a kernel range sitting at the top of RAM.
        #expect(try LinuxLoader.placeInitrd(size: 0x1800, memory: memory, maxAddress: .max, avoiding: [kernelTop])
                == GuestRange(start: GuestAddress(mib(60) - 0x2000), length: 0x1800))
        #expect(throws: LinuxLoadError.emptyInitrd) {
            try LinuxLoader.placeInitrd(size: 0, memory: memory, maxAddress: .max, avoiding: [])
        }
        #expect(throws: LinuxLoadError.initrdDoesNotFit(size: mib(64), ceiling: GuestAddress(mib(64)))) {
            try LinuxLoader.placeInitrd(size: mib(64), memory: memory, maxAddress: .max, avoiding: [])
        }
        let everything = GuestRange(start: GuestAddress(mib(1)), length: mib(63))!
        #expect(throws: LinuxLoadError.initrdDoesNotFit(size: 0x1000, ceiling: GuestAddress(mib(64)))) {
            try LinuxLoader.placeInitrd(size: 0x1000, memory: memory, maxAddress: .max, avoiding: [everything])
        }
        // Above 3 GiB of RAM the initrd stays below the MMIO hole.
        let big = try GuestMemoryMap.anonymous(size: 4 << 30)
        #expect(try LinuxLoader.placeInitrd(size: 0x1000, memory: big, maxAddress: .max, avoiding: [])
                == GuestRange(start: GuestAddress((3 << 30) - 0x1000), length: 0x1000))
    }

    @Test func rejections() throws {
        let small = try GuestMemoryMap.anonymous(size: 0x8_0000)
        #expect(throws: LinuxLoadError.notEnoughLowMemory(required: 0x10_0000)) {
            try LinuxLoader.load(kernel: ELFBuilder.valid().build(), initrd: nil, cmdline: "", memory: small)
        }
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        #expect(throws: LinuxLoadError.unrecognizedKernel) {
            try LinuxLoader.load(kernel: [1, 2, 3], initrd: nil, cmdline: "", memory: memory)
        }
        var low = ELFBuilder.valid()
        low.segments[0].paddr = 0x8000
        low.entry = 0x8000
        #expect(throws: LinuxLoadError.kernelOverlapsLowMemory(GuestRange(start: GuestAddress(0x8000), length: 0x100)!)) {
            try LinuxLoader.load(kernel: low.build(), initrd: nil, cmdline: "", memory: memory)
        }
        #expect(throws: LinuxLoadError.elfNotBootable(reason: "a 32-bit ELF without a PVH note has no 64-bit entry")) {
            try LinuxLoader.load(kernel: ELFBuilder.valid(is64: false).build(), initrd: nil, cmdline: "", memory: memory)
        }
        var high = ELFBuilder.valid()
        high.segments[0].paddr = mib(20)
        high.entry = mib(20)
        #expect(throws: LinuxLoadError.kernelDoesNotFit(start: GuestAddress(mib(20)), size: 0x100)) {
            try LinuxLoader.load(kernel: high.build(), initrd: nil, cmdline: "", memory: memory)
        }
        var lowRuntime = BzImageBuilder()
        lowRuntime.relocatable = 0
        lowRuntime.prefAddress = 0x1_0000   // would decompress over the zero page and tables
        #expect(throws: LinuxLoadError.kernelOverlapsLowMemory(
            GuestRange(start: GuestAddress(0x1_0000), length: 0x80_0000)!)) {
            try LinuxLoader.load(kernel: lowRuntime.build(), initrd: nil, cmdline: "", memory: memory)
        }
        #expect(throws: LinuxLoadError.bzImage(.notA64BitKernel)) {
            var b = BzImageBuilder(); b.xloadflags = 0
            return try LinuxLoader.load(kernel: b.build(), initrd: nil, cmdline: "", memory: memory)
        }
    }
}
