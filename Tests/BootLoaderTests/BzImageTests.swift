import BootLoader
import GuestMemory
import Testing

private func expectParseError(_ expected: BzImageError, _ builder: BzImageBuilder,
                              sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { try BzImage.parse(builder.build()) }
}

@Suite struct BzImageTests {
    @Test func parsesValidHeader() throws {
        let header = try BzImage.parse(BzImageBuilder().build())
        #expect(header.setupSects == 3)
        #expect(header.setupSize == 2048)
        #expect(header.version == 0x020F)
        #expect(header.loadflags == 1)
        #expect(header.initrdAddrMax == 0x7FFF_FFFF)
        #expect(header.kernelAlignment == 0x20_0000)
        #expect(header.relocatable)
        #expect(header.xloadflags == 3)
        #expect(header.cmdlineSize == 2047)
        #expect(header.prefAddress == 0x100_0000)
        #expect(header.initSize == 0x80_0000)
        #expect(header.headerEnd == 0x268)
    }

    @Test func setupSectsZeroMeansFour() throws {
        var b = BzImageBuilder()
        b.setupSects = 0
        #expect(try BzImage.parse(b.build()).setupSize == 5 * 512)
    }

    @Test func hostileHeaders() {
        var b = BzImageBuilder(); b.bootFlag = 0x55AA
        expectParseError(.badBootFlag(0x55AA), b)
        b = BzImageBuilder(); b.magic = 0x1234_5678
        expectParseError(.badHeaderMagic(0x1234_5678), b)
        b = BzImageBuilder(); b.version = 0x0205
        expectParseError(.protocolTooOld(0x0205), b)
        b = BzImageBuilder(); b.version = 0x020B   // no xloadflags yet
        expectParseError(.notA64BitKernel, b)
        b = BzImageBuilder(); b.xloadflags = 0x2
        expectParseError(.notA64BitKernel, b)
        b = BzImageBuilder(); b.loadflags = 0x80
        expectParseError(.notLoadedHigh(loadflags: 0x80), b)
        b = BzImageBuilder(); b.kernelAlignment = 0x30_0000
        expectParseError(.kernelAlignmentNotPowerOfTwo(0x30_0000), b)
        b = BzImageBuilder(); b.kernelAlignment = 0
        expectParseError(.kernelAlignmentNotPowerOfTwo(0), b)
        b = BzImageBuilder(); b.setupSects = 200; b.truncateTo = 2048 + 0x1000   // 201 sectors > file
        expectParseError(.setupSectsTooLarge(setupSects: 200, fileSize: 2048 + 0x1000), b)
        b = BzImageBuilder(); b.kernelSize = 0     // setup only: nothing to load
        expectParseError(.setupSectsTooLarge(setupSects: 3, fileSize: 2048), b)
        b = BzImageBuilder(); b.headerLength = 0x30   // header ends at 0x232: kernel_alignment cut
        expectParseError(.truncated(field: "kernel_alignment"), b)
        b = BzImageBuilder(); b.headerLength = 0x02   // ends before the version field
        expectParseError(.truncated(field: "version"), b)
    }

    @Test func truncatedFilesNeverCrash() {
        let full = BzImageBuilder().build()
        // Every prefix either parses (never: the kernel part is needed) or fails with an error.
        for length in 0...0x800 {   // 0x800 = the setup sectors alone
            #expect(throws: BzImageError.self) { try BzImage.parse(Array(full.prefix(length))) }
        }
        #expect(throws: BzImageError.truncated(field: "boot_flag")) { try BzImage.parse(Array(full.prefix(0x1FF))) }
        #expect(throws: BzImageError.truncated(field: "header")) { try BzImage.parse(Array(full.prefix(0x204))) }
        // Cut inside the setup sectors: the header claims more setup than the file has.
        #expect(throws: BzImageError.setupSectsTooLarge(setupSects: 3, fileSize: 0x237)) {
            try BzImage.parse(Array(full.prefix(0x237)))
        }
    }

    @Test func randomCorruptionNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let base = BzImageBuilder().build()
        for _ in 0..<2000 {
            var file = base
            for _ in 0..<4 {
                file[Int.random(in: 0x1F1..<0x270, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? BzImage.parse(file)
        }
    }

    @Test func loadCopiesProtectedModeKernelTo1MiB() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let file = BzImageBuilder().build()
        let header = try BzImage.parse(file)
        let loaded = try BzImage.load(file, header: header, into: memory)
        #expect(loaded.loaded == GuestRange(start: GuestAddress(0x10_0000), length: 0x1000))
        #expect(loaded.entry64 == GuestAddress(0x10_0200))
        // Runtime address max(align_up(1 MiB, 2 MiB), pref 16 MiB) = 16 MiB, plus init_size 8 MiB.
        #expect(loaded.footprint == GuestRange(start: GuestAddress(0x10_0000), length: mib(23)))
        #expect(loaded.setupHeader == Array(file[0x1F1..<0x268]))
        #expect(try memory.read(count: 0x1000, at: GuestAddress(0x10_0000)) == Array(file[2048...]))
    }

    @Test func loadRejectsKernelThatDoesNotFit() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(16))   // init_size area ends at 24 MiB
        let file = BzImageBuilder().build()
        let header = try BzImage.parse(file)
        #expect(throws: LinuxLoadError.kernelDoesNotFit(start: GuestAddress(0x10_0000), size: 0x80_0000)) {
            try BzImage.load(file, header: header, into: memory)
        }
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x10_0000)) == 0)   // nothing written
    }
}
