// Multiboot v1: header search and validation, the a.out-kludge address fields, and the info
// structure as a kernel reads it (field offsets from the spec, section 3.3).
import BootLoader
import GuestMemory
import Testing

/// A multiboot header: magic, flags, checksum (valid unless given), then `addresses` (bit 16 fields).
private func mbHeader(flags: UInt32, checksum: UInt32? = nil, addresses: [UInt32] = []) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 12 + 4 * addresses.count)
    putLE(&out, 0, Multiboot.headerMagic)
    putLE(&out, 4, flags)
    putLE(&out, 8, checksum ?? 0 &- (Multiboot.headerMagic &+ flags))
    for (i, a) in addresses.enumerated() { putLE(&out, 12 + 4 * i, a) }
    return out
}

/// `header` at file offset `offset` in a zero-filled file of `size` bytes.
private func image(_ header: [UInt8], at offset: Int, size: Int = 0x3000) -> [UInt8] {
    var file = [UInt8](repeating: 0, count: max(size, offset + header.count))
    file.replaceSubrange(offset..<(offset + header.count), with: header)
    return file
}

/// An ELF32 whose one segment (at 1 MiB) starts with a multiboot header, followed by 16 code bytes.
private func multibootELF(flags: UInt32 = 3, is64: Bool = false) -> ELFBuilder {
    var b = ELFBuilder.valid(is64: is64)
    b.payload = mbHeader(flags: flags) + (0..<16).map { UInt8(0x90 + $0) }
    b.segments[0].filesz = UInt64(b.payload.count)
    b.entry = 0x10_000C
    return b
}

/// A flat a.out-kludge image: header at 0x40 (so at 0x100040), 0x1000 bytes loaded, bss to 0x102000.
private let aoutFields: [UInt32] = [0x10_0040, 0x10_0000, 0x10_1000, 0x10_2000, 0x10_0060]
private func aoutImage(_ fields: [UInt32] = aoutFields, size: Int = 0x1800) -> [UInt8] {
    var file = image(mbHeader(flags: 0x1_0003, addresses: fields), at: 0x40, size: size)
    for i in 0x60..<size { file[i] = UInt8(truncatingIfNeeded: i &* 13) }
    return file
}

@Suite struct MultibootHeaderTests {
    @Test func findsAlignedHeaderInFirst8KiB() throws {
        let h = try Multiboot.findHeader(image(mbHeader(flags: 3), at: 0x40))
        #expect(h.offset == 0x40 && h.flags == 3 && h.addresses == nil)
        // The last place the 12-byte header fits entirely inside 8192 bytes.
        #expect(try Multiboot.findHeader(image(mbHeader(flags: 0), at: 0x1FF4)).offset == 0x1FF4)
    }

    @Test func rejectsMisalignedOrLateHeaders() {
        #expect(throws: MultibootError.noHeader) { try Multiboot.findHeader(image(mbHeader(flags: 3), at: 0x42)) }
        #expect(throws: MultibootError.noHeader) { try Multiboot.findHeader(image(mbHeader(flags: 3), at: 0x1FF8)) }
        #expect(throws: MultibootError.noHeader) { try Multiboot.findHeader(image(mbHeader(flags: 3), at: 0x2000)) }
        #expect(throws: MultibootError.noHeader) { try Multiboot.findHeader([0x02, 0xB0, 0xAD]) }
        #expect(Multiboot.magicOffset(image(mbHeader(flags: 3), at: 0x2000)) == nil)
    }

    @Test func checksumMustCancel() throws {
        #expect(throws: MultibootError.badChecksum(offset: 0x40, flags: 3, checksum: 7)) {
            try Multiboot.findHeader(image(mbHeader(flags: 3, checksum: 7), at: 0x40))
        }
        // As GRUB searches: a magic with a bad checksum is skipped when a valid header follows.
        var file = image(mbHeader(flags: 3, checksum: 7), at: 0x40)
        file.replaceSubrange(0x100..<0x10C, with: mbHeader(flags: 1))
        #expect(try Multiboot.findHeader(file).offset == 0x100)
    }

    @Test func requiredFlagsWeCannotHonourAreRefused() {
        #expect(throws: MultibootError.unsupportedRequiredFlags(0x4)) {
            try Multiboot.findHeader(image(mbHeader(flags: 0x7), at: 0))   // bit 2: video mode
        }
        #expect(throws: MultibootError.unsupportedRequiredFlags(0x8000)) {
            try Multiboot.findHeader(image(mbHeader(flags: 0x8001), at: 0))
        }
        // Bits 17-31 are optional: ignored.
        #expect(throws: Never.self) { try Multiboot.findHeader(image(mbHeader(flags: 0x8000_0003), at: 0)) }
    }

    @Test func addressFieldsMustFitInTheWindow() {
        #expect(throws: MultibootError.truncatedHeader(field: "header_addr")) {
            try Multiboot.findHeader(image(mbHeader(flags: 0x1_0000), at: 0x1FF4))
        }
        #expect(throws: MultibootError.truncatedHeader(field: "entry_addr")) {
            try Multiboot.findHeader(image(mbHeader(flags: 0x1_0000), at: 0x1FE4))
        }
    }

    @Test func aoutLayoutFromConsistentFields() throws {
        let file = aoutImage()
        let layout = try Multiboot.addressLayout(Multiboot.findHeader(file), fileSize: file.count)
        #expect(layout.fileOffset == 0)
        #expect(layout.load == GuestRange(start: GuestAddress(0x10_0000), length: 0x1000))
        #expect(layout.bss == GuestRange(start: GuestAddress(0x10_1000), length: 0x1000))
        #expect(layout.entry == GuestAddress(0x10_0060))
        // load_end_addr 0: the rest of the file; bss_end_addr 0: no bss.
        let whole = aoutImage([0x10_0040, 0x10_0000, 0, 0, 0x10_0060])
        let l2 = try Multiboot.addressLayout(Multiboot.findHeader(whole), fileSize: whole.count)
        #expect(l2.load.length == 0x1800 && l2.bss == nil)
        // The header 0x20 bytes after load_addr: loading starts 0x20 into the file.
        let later = aoutImage([0x10_0020, 0x10_0000, 0x10_0100, 0, 0x10_0030])
        #expect(try Multiboot.addressLayout(Multiboot.findHeader(later), fileSize: later.count).fileOffset == 0x20)
    }

    @Test func inconsistentAoutFieldsNameTheField() throws {
        func layout(_ fields: [UInt32], size: Int = 0x1800) throws(MultibootError) -> Multiboot.AddressLayout {
            let file = aoutImage(fields, size: size)
            return try Multiboot.addressLayout(try Multiboot.findHeader(file), fileSize: file.count)
        }
        #expect(throws: MultibootError.headerAddrBelowLoadAddr(headerAddr: 0x10_0040, loadAddr: 0x10_0080)) {
            try layout([0x10_0040, 0x10_0080, 0x10_1000, 0, 0x10_0080])
        }
        #expect(throws: MultibootError.loadAddrBeforeFileStart(loadAddr: 0x10_0000, headerAddr: 0x10_0100, headerOffset: 0x40)) {
            try layout([0x10_0100, 0x10_0000, 0x10_1000, 0, 0x10_0100])
        }
        #expect(throws: MultibootError.loadEndAddrNotAfterHeader(loadEndAddr: 0x10_0040, headerAddr: 0x10_0040)) {
            try layout([0x10_0040, 0x10_0000, 0x10_0040, 0, 0x10_0000])
        }
        #expect(throws: MultibootError.loadEndAddrPastFile(loadEndAddr: 0x10_2000, fileBytes: 0x1800)) {
            try layout([0x10_0040, 0x10_0000, 0x10_2000, 0, 0x10_0060])
        }
        #expect(throws: MultibootError.bssEndAddrBelowLoadEnd(bssEndAddr: 0x10_0800, loadEndAddr: 0x10_1000)) {
            try layout([0x10_0040, 0x10_0000, 0x10_1000, 0x10_0800, 0x10_0060])
        }
        #expect(throws: MultibootError.entryAddrOutsideImage(entryAddr: 0x10_2000)) {
            try layout([0x10_0040, 0x10_0000, 0x10_1000, 0x10_2000, 0x10_2000])
        }
        #expect(throws: MultibootError.entryAddrOutsideImage(entryAddr: 0xF_FFFF)) {
            try layout([0x10_0040, 0x10_0000, 0x10_1000, 0, 0xF_FFFF])
        }
        #expect(throws: MultibootError.addressAbove4GiB(0x1_0000_0800)) {
            try layout([0xFFFF_F040, 0xFFFF_F000, 0, 0, 0xFFFF_F060])
        }
    }

    @Test func hostileHeadersNeverTrap() throws {
        let base = aoutImage()
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        for _ in 0..<3000 {
            var file = base
            for _ in 0..<Int.random(in: 1...3) { file[0x40 + Int.random(in: 0..<32)] = UInt8.random(in: 0...255) }
            // Half the time the checksum is made valid again, so the address fields get validated.
            if Bool.random() {
                let sum = le(file, 0x40, as: UInt32.self) &+ le(file, 0x44, as: UInt32.self)
                putLE(&file, 0x48, 0 &- sum)
            }
            if Bool.random() { file = Array(file.prefix(Int.random(in: 0...file.count))) }
            _ = try? LinuxLoader.load(kernel: file, initrd: nil, cmdline: "", memory: memory)
        }
    }
}

@Suite struct MultibootLoadTests {
    @Test func elf32WithHeaderBootsThroughMultiboot() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let cmdline = "probe=1 console=ttyS0"
        let initrd = [UInt8](repeating: 0x5A, count: 0x2345)
        let result = try LinuxLoader.load(kernel: multibootELF().build(), initrd: initrd, cmdline: cmdline, memory: memory,
                                          options: LinuxBootOptions(rsdp: GuestAddress(0xE_0000)))
        #expect(result.bootProtocol == .multiboot)
        let state = result.entryState
        #expect(state.mode == .protected32 && state.rip == 0x10_000C)
        #expect(state.rax == 0x2BAD_B002 && state.rbx == 0x3_0000)
        #expect(state.cr0 & 1 == 1 && state.cr0 & (1 << 31) == 0 && state.efer == 0)
        #expect(state.cs.db && state.cs.base == 0 && state.cs.limit == 0xFFFF_FFFF && state.ds.base == 0)
        #expect(state.rflags & 0x200 == 0)

        func u32(_ address: UInt64) throws -> UInt32 { try memory.load(UInt32.self, at: GuestAddress(address)) }
        func u64(_ address: UInt64) throws -> UInt64 { try memory.load(UInt64.self, at: GuestAddress(address)) }
        func string(_ address: UInt32, _ count: Int) throws -> [UInt8] { try memory.read(count: count, at: GuestAddress(UInt64(address))) }
        let info: UInt64 = 0x3_0000
        #expect(try u32(info + 0) == 0x24D)                       // MEM | CMDLINE | MODS | MMAP | LOADER_NAME
        #expect(try u32(info + 4) == 639)                         // mem_lower: [0, 0x9FC00)
        #expect(try u32(info + 8) == (mib(64) - mib(1)) / 1024)   // mem_upper: from 1 MiB to the end
        #expect(try string(u32(info + 16), cmdline.utf8.count + 1) == Array(cmdline.utf8) + [0])
        #expect(try u32(info + 20) == 1)                          // mods_count
        let mods = UInt64(try u32(info + 24))
        let initrdRange = try #require(result.initrd)
        #expect(try u32(mods) == UInt32(initrdRange.start.raw))
        #expect(try u32(mods + 4) == UInt32(initrdRange.start.raw + 0x2345))
        #expect(try string(u32(mods + 8), 7) == Array("initrd".utf8) + [0])
        #expect(try u32(mods + 12) == 0)
        #expect(try memory.read(count: 0x2345, at: initrdRange.start) == initrd)
        #expect(initrdRange.start.raw & 0xFFF == 0)               // flag bit 0: page-aligned modules
        #expect(try string(u32(info + 64), 10) == Array("swift-vmm".utf8) + [0])

        // mmap: size (20), base, length, type per entry, as the e820 map says.
        let entries = result.e820.entries
        #expect(try u32(info + 44) == UInt32(entries.count * 24))
        let mmap = UInt64(try u32(info + 48))
        for (i, entry) in entries.enumerated() {
            let at = mmap + UInt64(i * 24)
            #expect(try u32(at) == 20)
            #expect(try u64(at + 4) == entry.range.start.raw)
            #expect(try u64(at + 12) == entry.range.length)
            #expect(try u32(at + 20) == entry.type.rawValue)
        }
        #expect(entries.first?.range.start.raw == 0 && entries.first?.type == .ram)
        // The structures sit in their documented window, clear of LinuxLayout's and the tables'.
        for write in result.written where write.name.contains("multiboot") || write.name == "boot loader name" {
            #expect(write.range.start.raw >= 0x3_0000 && write.range.last.raw < 0x3_2000, "\(write.name)")
        }
    }

    @Test func withoutInitrdModsCountIsZero() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        let result = try LinuxLoader.load(kernel: multibootELF().build(), initrd: nil, cmdline: "", memory: memory)
        #expect(result.bootProtocol == .multiboot && result.initrd == nil)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x3_0014)) == 0)
    }

    @Test func flatImageLoadsThroughAddressFields() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        try memory.fill(0xEE, count: 0x3000, at: GuestAddress(0x10_0000))   // bss must come back zeroed
        let file = aoutImage()
        let result = try LinuxLoader.load(kernel: file, initrd: [1, 2, 3], cmdline: "x", memory: memory)
        #expect(result.bootProtocol == .multiboot)
        #expect(result.entryState.rip == 0x10_0060 && result.entryState.rax == 0x2BAD_B002)
        #expect(try memory.read(count: 0x1000, at: GuestAddress(0x10_0000)) == Array(file[0..<0x1000]))
        #expect(try memory.read(count: 0x1000, at: GuestAddress(0x10_1000)) == [UInt8](repeating: 0, count: 0x1000))
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x10_2000)) == 0xEE)
        #expect(result.kernel == [GuestRange(start: GuestAddress(0x10_0000), length: 0x1000)!,
                                  GuestRange(start: GuestAddress(0x10_1000), length: 0x1000)!])
    }

    @Test func dispatchOrder() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        // A PVH note wins over a multiboot header.
        var both = multibootELF()
        let note = pvhNote(0x10_000C, size: 4)
        let noteOffset = UInt64(ELFBuilder.payloadOffset + both.payload.count)
        both.payload += note
        both.segments.append(.init(type: 4, offset: noteOffset, vaddr: 0, paddr: 0, filesz: UInt64(note.count),
                                   memsz: UInt64(note.count), flags: 4))
        #expect(try LinuxLoader.load(kernel: both.build(), initrd: nil, cmdline: "", memory: memory).bootProtocol == .pvh)
        // ELF64 with a valid header: multiboot (GRUB loads ELF64 multiboot kernels too).
        #expect(try LinuxLoader.load(kernel: multibootELF(is64: true).build(), initrd: nil, cmdline: "",
                                     memory: memory).bootProtocol == .multiboot)
        // ELF64 whose magic has a bad checksum: stray bytes, the 64-bit boot protocol as before.
        var stray = multibootELF(is64: true)
        putLE(&stray.payload, 8, UInt32(1))
        #expect(try LinuxLoader.load(kernel: stray.build(), initrd: nil, cmdline: "", memory: memory).bootProtocol == .elf64)
        // ELF32 with a bad header: reported, since it has no other way to boot.
        var bad32 = multibootELF()
        putLE(&bad32.payload, 8, UInt32(1))
        #expect(throws: LinuxLoadError.multiboot(.badChecksum(offset: 0x200, flags: 3, checksum: 1))) {
            try LinuxLoader.load(kernel: bad32.build(), initrd: nil, cmdline: "", memory: memory)
        }
        // A flat image with a header but no address fields cannot be loaded.
        #expect(throws: LinuxLoadError.multiboot(.notELFWithoutAddressFields)) {
            try LinuxLoader.load(kernel: image(mbHeader(flags: 3), at: 0x40), initrd: nil, cmdline: "", memory: memory)
        }
    }

    @Test func kernelPlacementIsChecked() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))
        let low = aoutImage([0x8040, 0x8000, 0x9000, 0, 0x8060])
        #expect(throws: LinuxLoadError.kernelOverlapsLowMemory(GuestRange(start: GuestAddress(0x8000), length: 0x1000)!)) {
            try LinuxLoader.load(kernel: low, initrd: nil, cmdline: "", memory: memory)
        }
        let high = aoutImage([0x200_0040, 0x200_0000, 0x200_1000, 0, 0x200_0060])
        #expect(throws: LinuxLoadError.kernelDoesNotFit(start: GuestAddress(0x200_0000), size: 0x1000)) {
            try LinuxLoader.load(kernel: high, initrd: nil, cmdline: "", memory: memory)
        }
    }
}
