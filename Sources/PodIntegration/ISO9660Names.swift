// The two spellings every name has on the image: a level-1 ISO 9660 identifier (8.3 d-characters,
// unique within its directory, what a reader without extensions sees) and the Joliet UCS-2 form.
// The real name also goes into Rock Ridge's NM entry as UTF-8 bytes (ISO9660RockRidge.swift).

enum ISO9660Names {
    /// Level-1 identifiers for the entries of one directory, in the order given. Files get
    /// `BASE.EXT;1`, directories `BASE`. Collisions (USER-DATA and USER_DATA both map to USER_DAT)
    /// are resolved by replacing the end of the base with a counter, as genisoimage does.
    static func primaryIdentifiers(for entries: [(name: String, isDirectory: Bool)]) -> [[UInt8]] {
        var taken = Set<[UInt8]>()
        var result: [[UInt8]] = []
        for entry in entries {
            let (base, ext) = split(entry.name, isDirectory: entry.isDirectory)
            var candidateBase = base
            var counter = 0
            while true {
                let identifier = entry.isDirectory ? candidateBase : candidateBase + [UInt8(ascii: ".")] + ext
                if !taken.contains(identifier) {
                    taken.insert(identifier)
                    result.append(entry.isDirectory ? identifier : identifier + Array(";1".utf8))
                    break
                }
                counter += 1
                let suffix = Array(String(counter).utf8)
                candidateBase = Array(base.prefix(max(0, 8 - suffix.count))) + suffix
            }
        }
        return result
    }

    /// Upper-cased d-characters (A-Z 0-9 _), base cut to 8 and extension to 3. Directories have no
    /// extension at level 1, so a dot in a directory name becomes `_`.
    private static func split(_ name: String, isDirectory: Bool) -> (base: [UInt8], ext: [UInt8]) {
        let scalars = Array(name.unicodeScalars)
        var baseScalars = scalars[...]
        var extScalars = scalars[scalars.endIndex...]
        if !isDirectory, let dot = scalars.lastIndex(of: ".") {
            baseScalars = scalars[..<dot]
            extScalars = scalars[(dot + 1)...]
        }
        var base = Array(baseScalars.map(dCharacter).prefix(8))
        let ext = Array(extScalars.map(dCharacter).prefix(3))
        if base.isEmpty { base = [UInt8(ascii: "_")] }
        return (base, ext)
    }

    private static func dCharacter(_ scalar: Unicode.Scalar) -> UInt8 {
        switch scalar {
        case "A"..."Z", "0"..."9", "_": UInt8(scalar.value)
        case "a"..."z": UInt8(scalar.value) - 0x20
        default: UInt8(ascii: "_")
        }
    }

    /// UCS-2 big-endian (the Joliet encoding); names were checked to lie in the BMP. Joliet names carry
    /// no `;1` version: genisoimage omits it and Linux, isoinfo and Windows all read names without it.
    static func joliet(_ text: String) -> [UInt8] {
        text.utf16.flatMap { [UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] }
    }

    /// ECMA-119 9.3 order for primary identifiers: compare the name part, then the extension, each
    /// padded with spaces. Names come from `primaryIdentifiers`, so they are d-characters, `.` and `;1`.
    static func primaryPrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        func parts(_ id: [UInt8]) -> ([UInt8], [UInt8]) {
            let withoutVersion = id.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false)[0]
            let pieces = withoutVersion.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
            return (Array(pieces[0]), pieces.count > 1 ? Array(pieces[1]) : [])
        }
        let (aName, aExt) = parts(a)
        let (bName, bExt) = parts(b)
        let nameOrder = paddedCompare(aName, bName, pad: [0x20])
        if nameOrder != 0 { return nameOrder < 0 }
        return paddedCompare(aExt, bExt, pad: [0x20]) < 0
    }

    /// Joliet order: UCS-2 code units compared as big-endian pairs, shorter padded with U+0020.
    static func jolietPrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        paddedCompare(a, b, pad: [0x00, 0x20]) < 0
    }

    private static func paddedCompare(_ a: [UInt8], _ b: [UInt8], pad: [UInt8]) -> Int {
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : pad[(index - a.count) % pad.count]
            let y = index < b.count ? b[index] : pad[(index - b.count) % pad.count]
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
