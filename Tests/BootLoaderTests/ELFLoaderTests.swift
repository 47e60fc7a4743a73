import BootLoader
import GuestMemory
import Testing

/// 2 MiB of RAM from 0: room for a 1 MiB image address plus tables.
private func ram(_ size: UInt64 = 0x20_0000) throws -> GuestMemoryMap {
    try GuestMemoryMap.anonymous(size: size)
}

private func expectLoadError(_ expected: ImageLoadError, _ builder: ELFBuilder,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
    let memory = try ram()
    #expect(throws: expected, sourceLocation: sourceLocation) { try ELFLoader.load(builder.build(), into: memory) }
}

@Suite struct ELFLoaderTests {
    @Test func loadsValidELF64AndZeroesBSS() throws {
        let memory = try ram()
        try memory.fill(0xFF, count: 0x200, at: GuestAddress(0x10_0000))   // bss must be cleared
        let loaded = try ELFLoader.load(ELFBuilder.valid().build(), into: memory)
        #expect(loaded.elfClass == .elf64)
        #expect(loaded.entry == GuestAddress(0x10_0000))
        #expect(loaded.segments == [GuestRange(start: GuestAddress(0x10_0000), length: 0x100)])
        #expect(loaded.end == GuestAddress(0x10_0100))
        #expect(try memory.read(count: 16, at: GuestAddress(0x10_0000)) == (0..<16).map { UInt8(0xC0 + $0) })
        #expect(try memory.read(count: 0xF0, at: GuestAddress(0x10_0010)) == [UInt8](repeating: 0, count: 0xF0))
        // Beyond memsz nothing was touched.
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x10_0100)) == 0xFF)
    }

    @Test func loadsValidELF32() throws {
        let memory = try ram()
        let loaded = try ELFLoader.load(ELFBuilder.valid(is64: false).build(), into: memory)
        #expect(loaded.elfClass == .elf32)
        #expect(loaded.entry == GuestAddress(0x10_0000))
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x10_000F)) == 0xCF)
    }

    @Test func parseReportsSegments() throws {
        var b = ELFBuilder.valid()
        b.segments.append(.init(type: 4, offset: 0, vaddr: 0, paddr: 0, filesz: 0, memsz: 0))   // PT_NOTE: skipped
        b.segments.append(.init(offset: 0x200, vaddr: 0x20_0000, paddr: 0x18_0000, filesz: 4, memsz: 4, flags: 6))
        let image = try ELFLoader.parse(b.build())
        #expect(image.machine == 62)
        #expect(image.segments.map(\.index) == [0, 2])
        #expect(image.segments[1].physicalRange == GuestRange(start: GuestAddress(0x18_0000), length: 4))
        #expect(image.segments[1].virtualAddress == 0x20_0000)
        #expect(image.segments[1].flags == 6)
    }

    @Test func entryGivenAsVirtualAddressIsTranslated() throws {
        var b = ELFBuilder.valid()
        b.segments[0].vaddr = 0xFFFF_FFFF_8100_0000
        b.entry = 0xFFFF_FFFF_8100_0004
        let loaded = try ELFLoader.load(b.build(), into: try ram())
        #expect(loaded.entry == GuestAddress(0x10_0004))
    }

    @Test func truncatedHeaders() throws {
        let memory = try ram()
        #expect(throws: ImageLoadError.truncated(field: "e_ident")) { try ELFLoader.load([], into: memory) }
        #expect(throws: ImageLoadError.truncated(field: "e_ident[EI_CLASS]")) {
            try ELFLoader.load([0x7F, 0x45, 0x4C, 0x46], into: memory)
        }
        let valid = ELFBuilder.valid().build()
        #expect(throws: ImageLoadError.truncated(field: "ELF header")) {
            try ELFLoader.load(Array(valid.prefix(40)), into: memory)
        }
        // The header is complete but the program-header table is cut off.
        #expect(throws: ImageLoadError.programHeadersOutsideFile) {
            try ELFLoader.load(Array(valid.prefix(80)), into: memory)
        }
    }

    @Test func identFields() throws {
        let memory = try ram()
        var bytes = ELFBuilder.valid().build()
        bytes[0] = 0x7E
        #expect(throws: ImageLoadError.badMagic) { try ELFLoader.load(bytes, into: memory) }
        bytes = ELFBuilder.valid().build(); bytes[4] = 3
        #expect(throws: ImageLoadError.unsupportedClass(3)) { try ELFLoader.load(bytes, into: memory) }
        bytes = ELFBuilder.valid().build(); bytes[5] = 2
        #expect(throws: ImageLoadError.unsupportedDataEncoding(2)) { try ELFLoader.load(bytes, into: memory) }
        bytes = ELFBuilder.valid().build(); bytes[6] = 0
        #expect(throws: ImageLoadError.unsupportedVersion(0)) { try ELFLoader.load(bytes, into: memory) }
    }

    @Test func typeAndMachine() throws {
        var b = ELFBuilder.valid()
        b.type = 3   // ET_DYN
        try expectLoadError(.unsupportedType(3), b)
        b = ELFBuilder.valid()
        b.machine = 3   // EM_386 in an ELF64
        try expectLoadError(.unsupportedMachine(3), b)
        b = ELFBuilder.valid(is64: false)
        b.machine = 62  // EM_X86_64 in an ELF32
        try expectLoadError(.unsupportedMachine(62), b)
    }

    @Test func programHeaderTable() throws {
        var b = ELFBuilder.valid()
        b.phoff = 0x10_0000   // beyond the file
        try expectLoadError(.programHeadersOutsideFile, b)
        b.phoff = UInt64.max - 8   // phoff + table size wraps
        try expectLoadError(.programHeadersOutsideFile, b)
        b = ELFBuilder.valid()
        b.phentsize = 32      // smaller than an Elf64_Phdr
        try expectLoadError(.badHeaderSize(field: "e_phentsize", value: 32), b)
        b = ELFBuilder.valid()
        b.phnumOverride = 0
        try expectLoadError(.noLoadableSegments, b)
        b.phnumOverride = 0xFFFF
        try expectLoadError(.tooManyProgramHeaders, b)
    }

    @Test func segmentFileBounds() throws {
        var b = ELFBuilder.valid()
        b.segments[0].filesz = 0x1000   // past the end of the file
        b.segments[0].memsz = 0x1000
        try expectLoadError(.segmentOutsideFile(index: 0), b)
        b = ELFBuilder.valid()
        b.segments[0].offset = UInt64.max   // offset + filesz wraps
        try expectLoadError(.segmentOutsideFile(index: 0), b)
    }

    @Test func fileSizeLargerThanMemorySize() throws {
        var b = ELFBuilder.valid()
        b.segments[0].memsz = 8
        try expectLoadError(.fileSizeLargerThanMemorySize(index: 0), b)
    }

    @Test func segmentOutsideRAMLeavesMemoryUntouched() throws {
        var b = ELFBuilder.valid()
        b.segments.append(.init(offset: 0x200, vaddr: 0x1000_0000, paddr: 0x1000_0000, filesz: 16, memsz: 16))
        let memory = try ram()
        #expect(throws: ImageLoadError.segmentOutsideMemory(index: 1)) { try ELFLoader.load(b.build(), into: memory) }
        // Segment 0 was valid but nothing may be written when any segment is rejected.
        #expect(try memory.read(count: 16, at: GuestAddress(0x10_0000)) == [UInt8](repeating: 0, count: 16))
        // A segment straddling the end of RAM is rejected too.
        b = ELFBuilder.valid()
        b.segments[0].paddr = 0x1F_FF80
        b.entry = 0x1F_FF80
        try expectLoadError(.segmentOutsideMemory(index: 0), b)
    }

    @Test func overlappingSegments() throws {
        var b = ELFBuilder.valid()
        b.segments.append(.init(type: 4, offset: 0, vaddr: 0, paddr: 0, filesz: 0, memsz: 0))
        b.segments.append(.init(offset: 0x200, vaddr: 0x10_00FF, paddr: 0x10_00FF, filesz: 1, memsz: 1))
        try expectLoadError(.overlappingSegments(0, 2), b)
        // Touching but not overlapping is fine.
        b.segments[2].paddr = 0x10_0100
        _ = try ELFLoader.load(b.build(), into: try ram())
    }

    @Test func addressOverflowNear2To64() throws {
        var b = ELFBuilder.valid()
        b.segments[0].paddr = UInt64.max - 0x10
        try expectLoadError(.addressOverflow(index: 0), b)
        // Exactly reaching 2^64 - 1 is representable, but no RAM is there.
        b.segments[0].paddr = UInt64.max - 0xFF
        try expectLoadError(.segmentOutsideMemory(index: 0), b)
        // ELF32: a segment may not run past 4 GiB.
        b = ELFBuilder.valid(is64: false)
        b.segments[0].paddr = 0xFFFF_FF80
        try expectLoadError(.addressOverflow(index: 0), b)
        // A huge memsz overflows as well.
        b = ELFBuilder.valid()
        b.segments[0].memsz = UInt64.max
        try expectLoadError(.addressOverflow(index: 0), b)
    }

    @Test func entryOutsideSegments() throws {
        var b = ELFBuilder.valid()
        b.entry = 0x10_0100   // one past the segment
        try expectLoadError(.entryOutsideSegments(entry: 0x10_0100), b)
    }

    /// Random corruptions of a valid image: each must load or throw, never trap.
    @Test func mutatedImagesNeverCrash() throws {
        let memory = try ram()
        var rng = SplitMix64(seed: 0x5EED)
        for is64 in [true, false] {
            var second = ELFBuilder.valid(is64: is64)
            second.segments.append(.init(offset: 0x204, vaddr: 0x18_0000, paddr: 0x18_0000, filesz: 8, memsz: 0x2000))
            let valid = second.build()
            for _ in 0..<3000 {
                var bytes = valid
                for _ in 0..<Int(rng.next() % 4 + 1) {
                    let at = Int(rng.next() % 0xC0)   // header and program headers
                    bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
                if rng.next() % 8 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
                _ = try? ELFLoader.load(bytes, into: memory)
            }
        }
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
