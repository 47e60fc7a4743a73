// Parses and loads little-endian x86 static ELF executables (ELF32/EM_386 and ELF64/EM_X86_64).
// The image is untrusted: every field is read with a bounds check, every sum is overflow-checked,
// and every segment is validated (file bounds, sizes, guest RAM, no overlap) before the first byte
// is copied, so a rejected image leaves guest memory untouched.
import GuestMemory

public enum ELFClass: UInt8, Sendable {
    case elf32 = 1
    case elf64 = 2
}

/// One PT_LOAD program header with a non-zero p_memsz, after validation against the file.
public struct ELFSegment: Equatable, Sendable {
    /// Index of the program header in the file (what errors report).
    public let index: Int
    public let fileOffset: UInt64
    public let fileSize: UInt64
    public let memorySize: UInt64
    /// p_paddr: where the loader puts it. The guest's page tables may map it elsewhere (p_vaddr).
    public let physicalRange: GuestRange
    public let virtualAddress: UInt64
    public let flags: UInt32
}

/// One program header as read from the file (any p_type), fields widened to 64 bits.
public struct ELFProgramHeader: Equatable, Sendable {
    /// Index in the program-header table (what errors report).
    public let index: Int
    public let type: UInt32
    public let flags: UInt32
    public let offset: UInt64
    public let virtualAddress: UInt64
    public let physicalAddress: UInt64
    public let fileSize: UInt64
    public let memorySize: UInt64
    public let alignment: UInt64
}

/// A validated image, not yet in guest memory.
public struct ELFImage: Equatable, Sendable {
    public let elfClass: ELFClass
    public let machine: UInt16
    /// e_entry as found in the header.
    public let entry: UInt64
    /// e_entry as a guest-physical address (see `ELFLoader.parse`).
    public let physicalEntry: GuestAddress
    /// PT_LOAD segments with p_memsz > 0, in program-header order.
    public let segments: [ELFSegment]
    /// Every program header, PT_LOAD or not (PT_NOTE for `ELFLoader.notes`).
    public let programHeaders: [ELFProgramHeader]
}

/// What `ELFLoader.load` put into guest memory.
public struct LoadedELF: Equatable, Sendable {
    public let elfClass: ELFClass
    /// Guest-physical address of the first instruction.
    public let entry: GuestAddress
    /// The guest-physical ranges written (p_paddr, p_memsz), in program-header order.
    public let segments: [GuestRange]
    /// One past the highest loaded byte: where a loader may place data after the image.
    public let end: GuestAddress?
}

public enum ELFLoader {
    static let emI386: UInt16 = 3
    static let emX8664: UInt16 = 62
    static let ptLoad: UInt32 = 1
    static let etExec: UInt16 = 2

    /// Validates `bytes` as a static x86 ELF executable without touching guest memory.
    ///
    /// The returned entry is physical: e_entry itself when it falls inside a segment's
    /// [p_paddr, p_paddr + p_memsz); otherwise, when it falls inside [p_vaddr, p_vaddr + p_memsz),
    /// it is translated to that segment's physical address (kernels linked high, loaded low).
    public static func parse(_ bytes: [UInt8]) throws(ImageLoadError) -> ELFImage {
        let file = ByteReader(bytes)
        let magic = try file.bytes(at: 0, count: 4, field: "e_ident")
        guard magic == [0x7F, 0x45, 0x4C, 0x46] else { throw .badMagic }
        let classByte = try file.u8(at: 4, field: "e_ident[EI_CLASS]")
        guard let elfClass = ELFClass(rawValue: classByte) else { throw .unsupportedClass(classByte) }
        let data = try file.u8(at: 5, field: "e_ident[EI_DATA]")
        guard data == 1 else { throw .unsupportedDataEncoding(data) }
        let identVersion = try file.u8(at: 6, field: "e_ident[EI_VERSION]")
        guard identVersion == 1 else { throw .unsupportedVersion(UInt32(identVersion)) }

        let is64 = elfClass == .elf64
        // Offsets of e_entry..e_phnum differ between the classes; the first 24 bytes are shared.
        let headerSize: UInt64 = is64 ? 64 : 52
        _ = try file.bytes(at: 0, count: Int(headerSize), field: "ELF header")
        let type = try file.u16(at: 16, field: "e_type")
        guard type == etExec else { throw .unsupportedType(type) }
        let machine = try file.u16(at: 18, field: "e_machine")
        guard machine == (is64 ? emX8664 : emI386) else { throw .unsupportedMachine(machine) }
        let version = try file.u32(at: 20, field: "e_version")
        guard version == 1 else { throw .unsupportedVersion(version) }
        let entry = is64 ? try file.u64(at: 24, field: "e_entry") : UInt64(try file.u32(at: 24, field: "e_entry"))
        let phoff = is64 ? try file.u64(at: 32, field: "e_phoff") : UInt64(try file.u32(at: 28, field: "e_phoff"))
        let ehsize = UInt64(try file.u16(at: is64 ? 52 : 40, field: "e_ehsize"))
        let phentsize = UInt64(try file.u16(at: is64 ? 54 : 42, field: "e_phentsize"))
        let phnum = try file.u16(at: is64 ? 56 : 44, field: "e_phnum")
        guard ehsize >= headerSize else { throw .badHeaderSize(field: "e_ehsize", value: ehsize) }
        let phdrSize: UInt64 = is64 ? 56 : 32
        guard phentsize >= phdrSize else { throw .badHeaderSize(field: "e_phentsize", value: phentsize) }
        guard phnum != 0xFFFF else { throw .tooManyProgramHeaders }
        guard phnum > 0 else { throw .noLoadableSegments }

        // The whole table must lie in the file; each entry is then read at a checked offset.
        let (tableSize, o1) = phentsize.multipliedReportingOverflow(by: UInt64(phnum))
        let (tableEnd, o2) = phoff.addingReportingOverflow(tableSize)
        guard !o1, !o2, tableEnd <= UInt64(bytes.count) else { throw .programHeadersOutsideFile }

        let headers = try programHeaders(file, is64: is64, tableOffset: Int(phoff), entrySize: Int(phentsize),
                                         count: Int(phnum))
        var segments: [ELFSegment] = []
        for header in headers where header.type == ptLoad {
            let index = header.index
            let offset = header.offset, vaddr = header.virtualAddress, paddr = header.physicalAddress
            let filesz = header.fileSize, memsz = header.memorySize, flags = header.flags
            let (fileEnd, overflow) = offset.addingReportingOverflow(filesz)
            guard !overflow, fileEnd <= UInt64(bytes.count) else { throw .segmentOutsideFile(index: index) }
            guard filesz <= memsz else { throw .fileSizeLargerThanMemorySize(index: index) }
            guard memsz > 0 else { continue }   // legal and loads nothing
            // A 32-bit image cannot address beyond 4 GiB.
            let limit: UInt64 = is64 ? UInt64.max : UInt64(UInt32.max)
            let (last, addressOverflow) = paddr.addingReportingOverflow(memsz - 1)
            guard !addressOverflow, last <= limit,
                  let range = GuestRange(start: GuestAddress(paddr), length: memsz) else {
                throw .addressOverflow(index: index)
            }
            segments.append(ELFSegment(index: index, fileOffset: offset, fileSize: filesz, memorySize: memsz,
                                       physicalRange: range, virtualAddress: vaddr, flags: flags))
        }
        guard !segments.isEmpty else { throw .noLoadableSegments }
        try checkNoOverlap(segments)
        let physicalEntry = try physicalEntry(entry, segments: segments)
        return ELFImage(elfClass: elfClass, machine: machine, entry: entry, physicalEntry: physicalEntry,
                        segments: segments, programHeaders: headers)
    }

    /// Reads every entry of the program-header table; the caller has checked that the whole table
    /// (tableOffset + count * entrySize) lies inside the file, so the offsets cannot overflow.
    static func programHeaders(_ file: ByteReader, is64: Bool, tableOffset: Int, entrySize: Int,
                               count: Int) throws(ImageLoadError) -> [ELFProgramHeader] {
        var headers: [ELFProgramHeader] = []
        for index in 0..<count {
            let base = tableOffset + index * entrySize
            let field = "program header \(index)"
            let type = try file.u32(at: base, field: field)
            if is64 {
                headers.append(ELFProgramHeader(
                    index: index, type: type, flags: try file.u32(at: base + 4, field: field),
                    offset: try file.u64(at: base + 8, field: field),
                    virtualAddress: try file.u64(at: base + 16, field: field),
                    physicalAddress: try file.u64(at: base + 24, field: field),
                    fileSize: try file.u64(at: base + 32, field: field),
                    memorySize: try file.u64(at: base + 40, field: field),
                    alignment: try file.u64(at: base + 48, field: field)))
            } else {
                headers.append(ELFProgramHeader(
                    index: index, type: type, flags: try file.u32(at: base + 24, field: field),
                    offset: UInt64(try file.u32(at: base + 4, field: field)),
                    virtualAddress: UInt64(try file.u32(at: base + 8, field: field)),
                    physicalAddress: UInt64(try file.u32(at: base + 12, field: field)),
                    fileSize: UInt64(try file.u32(at: base + 16, field: field)),
                    memorySize: UInt64(try file.u32(at: base + 20, field: field)),
                    alignment: UInt64(try file.u32(at: base + 28, field: field))))
            }
        }
        return headers
    }

    /// Validates `bytes`, checks every segment lies in guest RAM, then copies the file part of each
    /// PT_LOAD segment to p_paddr and zeroes the rest (bss).
    public static func load(_ bytes: [UInt8], into memory: GuestMemoryMap) throws(ImageLoadError) -> LoadedELF {
        let image = try parse(bytes)
        for segment in image.segments where !memory.isValid(segment.physicalRange) {
            throw .segmentOutsideMemory(index: segment.index)
        }
        do {
            for segment in image.segments {
                let start = segment.physicalRange.start
                if segment.fileSize > 0 {
                    // Offsets fit in Int: parse checked offset + filesz <= bytes.count.
                    let from = Int(segment.fileOffset)
                    try memory.write(Array(bytes[from..<(from + Int(segment.fileSize))]), at: start)
                }
                let bss = segment.memorySize - segment.fileSize
                // Cannot overflow: start + memsz was checked in parse.
                if bss > 0, let bssStart = start.adding(segment.fileSize) {
                    try memory.fill(0, count: bss, at: bssStart)
                }
            }
        } catch {
            throw .memory(error)
        }
        let end = image.segments.map { $0.physicalRange.last }.max().flatMap { $0.adding(1) }
        return LoadedELF(elfClass: image.elfClass, entry: image.physicalEntry,
                         segments: image.segments.map(\.physicalRange), end: end)
    }

    /// Sorted by start, two segments overlap exactly when some neighbour pair does: O(n log n) even
    /// for a hostile 65534-entry table.
    static func checkNoOverlap(_ segments: [ELFSegment]) throws(ImageLoadError) {
        let sorted = segments.sorted { $0.physicalRange.start < $1.physicalRange.start }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.physicalRange.overlaps(b.physicalRange) {
            throw .overlappingSegments(min(a.index, b.index), max(a.index, b.index))
        }
    }

    static func physicalEntry(_ entry: UInt64, segments: [ELFSegment]) throws(ImageLoadError) -> GuestAddress {
        if segments.contains(where: { $0.physicalRange.contains(GuestAddress(entry)) }) {
            return GuestAddress(entry)
        }
        for segment in segments {
            // entry - p_vaddr < p_memsz, written so that neither side can overflow.
            if entry >= segment.virtualAddress, entry - segment.virtualAddress < segment.memorySize,
               let physical = segment.physicalRange.start.adding(entry - segment.virtualAddress) {
                return physical
            }
        }
        throw .entryOutsideSegments(entry: entry)
    }
}

/// Little-endian reads from an untrusted buffer: an out-of-range read is a `truncated` error.
struct ByteReader {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func bytes(at offset: Int, count: Int, field: String) throws(ImageLoadError) -> [UInt8] {
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard offset >= 0, count >= 0, !overflow, end <= bytes.count else { throw .truncated(field: field) }
        return Array(bytes[offset..<end])
    }

    func u8(at offset: Int, field: String) throws(ImageLoadError) -> UInt8 {
        try integer(at: offset, field: field)
    }
    func u16(at offset: Int, field: String) throws(ImageLoadError) -> UInt16 {
        try integer(at: offset, field: field)
    }
    func u32(at offset: Int, field: String) throws(ImageLoadError) -> UInt32 {
        try integer(at: offset, field: field)
    }
    func u64(at offset: Int, field: String) throws(ImageLoadError) -> UInt64 {
        try integer(at: offset, field: field)
    }

    private func integer<T: FixedWidthInteger & UnsignedInteger>(at offset: Int, field: String) throws(ImageLoadError) -> T {
        let raw = try bytes(at: offset, count: MemoryLayout<T>.size, field: field)
        var value: T = 0
        for (shift, byte) in raw.enumerated() { value |= T(byte) << (8 * shift) }
        return value
    }
}
