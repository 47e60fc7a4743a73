// Hand-built ELF images for the loader tests: every field is set explicitly so that each hostile
// variant differs from a valid image in exactly one place.

struct ELFBuilder {
    struct Segment {
        var type: UInt32 = 1   // PT_LOAD
        var offset: UInt64
        var vaddr: UInt64
        var paddr: UInt64
        var filesz: UInt64
        var memsz: UInt64
        var flags: UInt32 = 5  // R+X
    }

    var is64 = true
    var type: UInt16 = 2       // ET_EXEC
    var machine: UInt16?       // default: EM_X86_64 / EM_386 by class
    var entry: UInt64 = 0x10_0000
    var phoff: UInt64?         // default: right after the ELF header
    var phentsize: UInt16?
    var phnumOverride: UInt16?
    var segments: [Segment] = []
    /// Bytes placed at file offset `payloadOffset`.
    var payload: [UInt8] = []
    static let payloadOffset = 0x200

    var headerSize: Int { is64 ? 64 : 52 }
    var phdrSize: Int { is64 ? 56 : 32 }

    func build() -> [UInt8] {
        var file = [UInt8](repeating: 0, count: Self.payloadOffset)
        file += payload
        file.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        file[4] = is64 ? 2 : 1
        file[5] = 1
        file[6] = 1
        put(&file, 16, UInt64(type), 2)
        put(&file, 18, UInt64(machine ?? (is64 ? 62 : 3)), 2)
        put(&file, 20, 1, 4)
        let tableOffset = phoff ?? UInt64(headerSize)
        let entsize = UInt64(phentsize ?? UInt16(phdrSize))
        let count = UInt64(phnumOverride ?? UInt16(segments.count))
        if is64 {
            put(&file, 24, entry, 8)
            put(&file, 32, tableOffset, 8)
            put(&file, 52, UInt64(headerSize), 2)
            put(&file, 54, entsize, 2)
            put(&file, 56, count, 2)
        } else {
            put(&file, 24, entry, 4)
            put(&file, 28, tableOffset, 4)
            put(&file, 40, UInt64(headerSize), 2)
            put(&file, 42, entsize, 2)
            put(&file, 44, count, 2)
        }
        // Program headers are written at the default place even if phoff is overridden.
        for (i, s) in segments.enumerated() {
            let base = headerSize + i * phdrSize
            precondition(base + phdrSize <= Self.payloadOffset, "too many test segments")
            put(&file, base, UInt64(s.type), 4)
            if is64 {
                put(&file, base + 4, UInt64(s.flags), 4)
                put(&file, base + 8, s.offset, 8)
                put(&file, base + 16, s.vaddr, 8)
                put(&file, base + 24, s.paddr, 8)
                put(&file, base + 32, s.filesz, 8)
                put(&file, base + 40, s.memsz, 8)
                put(&file, base + 48, 0x1000, 8)
            } else {
                put(&file, base + 4, s.offset, 4)
                put(&file, base + 8, s.vaddr, 4)
                put(&file, base + 12, s.paddr, 4)
                put(&file, base + 16, s.filesz, 4)
                put(&file, base + 20, s.memsz, 4)
                put(&file, base + 24, UInt64(s.flags), 4)
                put(&file, base + 28, 0x1000, 4)
            }
        }
        return file
    }

    private func put(_ file: inout [UInt8], _ offset: Int, _ value: UInt64, _ size: Int) {
        for i in 0..<size { file[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// A valid image: 16 bytes of code at 0x100000 followed by 0xF0 bytes of bss.
    static func valid(is64: Bool = true) -> ELFBuilder {
        var b = ELFBuilder()
        b.is64 = is64
        b.payload = (0..<16).map { UInt8(0xC0 + $0) }
        b.segments = [Segment(offset: UInt64(payloadOffset), vaddr: 0x10_0000, paddr: 0x10_0000,
                              filesz: 16, memsz: 0x100)]
        return b
    }
}
