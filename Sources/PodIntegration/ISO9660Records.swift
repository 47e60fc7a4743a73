// Byte-level pieces of an ISO 9660 image (ECMA-119): both-endian numbers, directory records, path
// table records, volume descriptors, and the SUSP/Rock Ridge (RRIP 1.09, "RRIP_1991A") entries that
// carry real names and POSIX modes. Every function returns bytes; placing them is ISO9660Writer's job.

enum ISO9660Bytes {
    static let sectorSize = 2048

    static func littleEndian32(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func bigEndian32(_ value: UInt32) -> [UInt8] { littleEndian32(value).reversed() }

    static func littleEndian16(_ value: UInt16) -> [UInt8] {
        [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)]
    }

    static func bigEndian16(_ value: UInt16) -> [UInt8] { littleEndian16(value).reversed() }

    /// ECMA-119 7.3.3: little-endian then big-endian copy of the same value.
    static func both32(_ value: UInt32) -> [UInt8] { littleEndian32(value) + bigEndian32(value) }
    /// ECMA-119 7.2.3.
    static func both16(_ value: UInt16) -> [UInt8] { littleEndian16(value) + bigEndian16(value) }

    /// `text` as bytes, cut or padded with spaces to `width` (a-/d-character fields).
    static func padded(_ text: [UInt8], to width: Int, pad: UInt8 = 0x20) -> [UInt8] {
        Array(text.prefix(width)) + [UInt8](repeating: pad, count: max(0, width - text.count))
    }

    /// A UCS-2 field of a Joliet descriptor: cut to whole characters, padded with U+0020.
    static func paddedUCS2(_ text: [UInt8], to width: Int) -> [UInt8] {
        var out = Array(text.prefix(width & ~1))
        while out.count + 2 <= width { out += [0x00, 0x20] }
        if out.count < width { out.append(0) }
        return out
    }
}

/// One directory record (ECMA-119 9.1). The length is even and at most 255 bytes; the caller keeps
/// identifiers and system-use data small enough (names are limited to 64 characters).
struct ISO9660DirectoryRecord {
    var extent: UInt32
    var dataLength: UInt32
    var isDirectory: Bool
    /// `[0]` for ".", `[1]` for "..", else the identifier bytes.
    var identifier: [UInt8]
    var systemUse: [UInt8] = []
    var time: ISO9660Timestamp

    /// 33 fixed bytes, the identifier, a pad byte when the identifier length is even (9.1.12), then
    /// system use, padded to an even length (9.1.13).
    var length: Int {
        let base = 33 + identifier.count + (identifier.count % 2 == 0 ? 1 : 0)
        let total = base + systemUse.count
        return total + total % 2
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = [UInt8(length), 0]
        out += ISO9660Bytes.both32(extent)
        out += ISO9660Bytes.both32(dataLength)
        out += time.directoryRecordBytes
        out.append(isDirectory ? 0x02 : 0x00)        // file flags: bit 1 = directory
        out += [0, 0]                                // file unit size, interleave gap: not interleaved
        out += ISO9660Bytes.both16(1)                // volume sequence number
        out.append(UInt8(identifier.count))
        out += identifier
        if identifier.count % 2 == 0 { out.append(0) }
        out += systemUse
        if out.count % 2 == 1 { out.append(0) }
        return out
    }
}

/// Rock Ridge and SUSP entries (IEEE P1281/P1282 as genisoimage writes them).
enum ISO9660RockRidge {
    static let fileMode: UInt32 = 0o100444       // regular file, read-only for all: the medium is read-only
    static let directoryMode: UInt32 = 0o040555

    /// The ER entry's texts: the registered identifier of RRIP 1.09 and its standard description.
    static let extensionIdentifier = Array("RRIP_1991A".utf8)
    static let extensionDescriptor = Array("THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS".utf8)
    static let extensionSource = Array("PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.".utf8)

    /// SP: marks SUSP in use; only in the root's "." record, first entry (SUSP 5.3).
    static func sp() -> [UInt8] { [0x53, 0x50, 7, 1, 0xBE, 0xEF, 0] }

    /// RR: which RRIP entries follow (RRIP 1.09 4.1.7): bit 0 PX, bit 3 NM, bit 7 TF.
    static func rr(hasName: Bool) -> [UInt8] { [0x52, 0x52, 5, 1, hasName ? 0x89 : 0x81] }

    /// PX: POSIX mode, link count, uid 0, gid 0 (the 36-byte form of RRIP 1.09; Linux reads both forms).
    static func px(mode: UInt32, links: UInt32) -> [UInt8] {
        [0x50, 0x58, 36, 1] + ISO9660Bytes.both32(mode) + ISO9660Bytes.both32(links)
            + ISO9660Bytes.both32(0) + ISO9660Bytes.both32(0)
    }

    /// NM: the real name, as UTF-8 bytes (Rock Ridge names are byte strings; Linux passes them through).
    static func nm(_ name: [UInt8]) -> [UInt8] { [0x4E, 0x4D, UInt8(5 + name.count), 1, 0] + name }

    /// TF: modification, access and attribute-change times, 7-byte form (flags bits 1-3).
    static func tf(_ time: ISO9660Timestamp) -> [UInt8] {
        let stamp = time.directoryRecordBytes
        return [0x54, 0x46, 26, 1, 0x0E] + stamp + stamp + stamp
    }

    /// CE: the rest of this record's system use continues at `sector`, `offset`, for `length` bytes.
    static func ce(sector: UInt32, offset: UInt32, length: UInt32) -> [UInt8] {
        [0x43, 0x45, 28, 1] + ISO9660Bytes.both32(sector) + ISO9660Bytes.both32(offset) + ISO9660Bytes.both32(length)
    }

    /// ER: names the extension in use. Linux switches to Rock Ridge names only once it has seen an ER
    /// in the root directory, so it must be reachable from the root's "." record (through CE: at 237
    /// bytes it does not fit the record itself).
    static func er() -> [UInt8] {
        let length = 8 + extensionIdentifier.count + extensionDescriptor.count + extensionSource.count
        return [0x45, 0x52, UInt8(length), 1, UInt8(extensionIdentifier.count), UInt8(extensionDescriptor.count),
                UInt8(extensionSource.count), 1] + extensionIdentifier + extensionDescriptor + extensionSource
    }
}

/// One path table record (ECMA-119 9.4), little- or big-endian (L and M tables).
func iso9660PathTableRecord(identifier: [UInt8], extent: UInt32, parent: UInt16, bigEndian: Bool) -> [UInt8] {
    var out: [UInt8] = [UInt8(identifier.count), 0]
    out += bigEndian ? ISO9660Bytes.bigEndian32(extent) : ISO9660Bytes.littleEndian32(extent)
    out += bigEndian ? ISO9660Bytes.bigEndian16(parent) : ISO9660Bytes.littleEndian16(parent)
    out += identifier
    if identifier.count % 2 == 1 { out.append(0) }
    return out
}
