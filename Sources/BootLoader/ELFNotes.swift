// ELF notes from PT_NOTE segments: how a kernel advertises entry points and features to a loader
// (Xen's XEN_ELFNOTE_* for PVH, "Linux" and "GNU" notes). Same untrusted-input rules as
// ELFLoader: every read bounded by the segment and the file, every walk bounded by the segment size.
import GuestMemory

/// One note: namesz/descsz/type header, the name (NULs stripped) and the descriptor bytes.
public struct ELFNote: Equatable, Sendable {
    public let name: String
    public let type: UInt32
    public let descriptor: [UInt8]
    /// Index of the PT_NOTE program header it came from.
    public let programHeader: Int
}

extension ELFLoader {
    static let ptNote: UInt32 = 4

    /// Every note in every PT_NOTE segment, in file order. The ELF header is validated as `parse`
    /// does; a note whose sizes run past its segment is `.truncated`, a segment outside the file
    /// `.segmentOutsideFile`.
    public static func notes(_ bytes: [UInt8]) throws(ImageLoadError) -> [ELFNote] {
        let image = try parse(bytes)   // rejects anything that is not a loadable x86 ELF
        let file = ByteReader(bytes)
        var notes: [ELFNote] = []
        for header in image.programHeaders where header.type == ptNote {
            let index = header.index
            let offset = header.offset, size = header.fileSize, align = header.alignment
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, end <= UInt64(bytes.count) else { throw .segmentOutsideFile(index: index) }
            // gABI: fields are padded to 4 bytes, or 8 in a segment aligned to 8 (rare on x86).
            let padding = align == 8 ? 8 : 4
            notes += try segmentNotes(file, from: Int(offset), count: Int(size), padding: padding, index: index)
        }
        return notes
    }

    /// The notes in bytes [from, from + count) of the file; both already checked to lie in it.
    static func segmentNotes(_ file: ByteReader, from: Int, count: Int, padding: Int,
                             index: Int) throws(ImageLoadError) -> [ELFNote] {
        var notes: [ELFNote] = []
        var cursor = 0
        // Each iteration consumes at least the 12-byte header, so the loop is bounded by count / 12.
        while count - cursor >= 12 {
            let field = "note at offset \(from + cursor) in program header \(index)"
            let namesz = Int(try file.u32(at: from + cursor, field: field))
            let descsz = Int(try file.u32(at: from + cursor + 4, field: field))
            let type = try file.u32(at: from + cursor + 8, field: field)
            let nameStart = cursor + 12
            // Sizes are u32, so these sums cannot overflow a 64-bit Int.
            let descStart = nameStart + padded(namesz, padding)
            let next = descStart + padded(descsz, padding)
            // The unpadded descriptor must lie in the segment; the trailing padding of the last
            // note may be missing in real files, which is harmless.
            guard descStart + descsz <= count else { throw .truncated(field: field) }
            let nameBytes = try file.bytes(at: from + nameStart, count: namesz, field: field)
            let descriptor = try file.bytes(at: from + descStart, count: descsz, field: field)
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            notes.append(ELFNote(name: name, type: type, descriptor: descriptor, programHeader: index))
            cursor = next
        }
        return notes
    }

    private static func padded(_ size: Int, _ alignment: Int) -> Int {
        (size + alignment - 1) / alignment * alignment
    }
}
