// A small encoder for ACPI Machine Language (ACPI 6.5 chapter 20, "ACPI Machine Language
// Specification", and 6.4 "Resource Data Types"): just the terms a VMM's DSDT needs — names,
// scopes, devices, integers, strings, buffers, packages and resource templates. Each function
// returns the encoded bytes of one term, so a table reads like the ASL it stands for:
// `AML.device("COM1", [AML.name("_HID", AML.eisaID("PNP0501")), ...])`. Everything that could be
// malformed (a name segment, a length past the encodable maximum) is a typed error, never a trap,
// because a bad DSDT fails silently in the guest (the interpreter skips the object).

public enum AMLError: Error, Equatable, Sendable {
    /// A name segment must be 1-4 characters: first 'A'-'Z' or '_', then also '0'-'9'.
    case invalidNameSegment(String)
    /// A name path: an optional '\' or run of '^', then segments separated by '.'.
    case invalidNamePath(String)
    /// PkgLength encodes at most 2^28 - 1 bytes.
    case lengthTooLarge(Int)
    /// A Package holds at most 255 elements (NumElements is one byte).
    case tooManyPackageElements(Int)
    /// An AML String is ASCII without NUL (the NUL terminates it).
    case invalidString(String)
    /// EISAID wants three upper-case letters and four hex digits ("PNP0501").
    case invalidEISAID(String)
    /// IRQNoFlags describes IRQs 0-15 only (a 16-bit mask).
    case irqOutOfRange(UInt32)
    /// An extended Interrupt descriptor lists 1-255 interrupts.
    case interruptCount(Int)
}

public enum AML {
    // Opcodes (ACPI 6.5 §20.3, "AML Byte Stream Byte Values").
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let nameOp: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0A
    static let wordPrefix: UInt8 = 0x0B
    static let dwordPrefix: UInt8 = 0x0C
    static let stringPrefix: UInt8 = 0x0D
    static let qwordPrefix: UInt8 = 0x0E
    static let scopeOp: UInt8 = 0x10
    static let bufferOp: UInt8 = 0x11
    static let packageOp: UInt8 = 0x12
    static let methodOp: UInt8 = 0x14
    static let dualNamePrefix: UInt8 = 0x2E
    static let multiNamePrefix: UInt8 = 0x2F
    static let extOpPrefix: UInt8 = 0x5B
    static let opRegionOp: UInt8 = 0x80   // after extOpPrefix
    static let fieldOp: UInt8 = 0x81      // after extOpPrefix
    static let deviceOp: UInt8 = 0x82   // after extOpPrefix
    static let rootChar: UInt8 = 0x5C   // '\'
    static let parentPrefixChar: UInt8 = 0x5E   // '^'
    static let local0Op: UInt8 = 0x60
    static let arg0Op: UInt8 = 0x68
    static let storeOp: UInt8 = 0x70
    static let andOp: UInt8 = 0x7B
    static let notifyOp: UInt8 = 0x86
    static let ifOp: UInt8 = 0xA0
    static let onesOp: UInt8 = 0xFF

    // MARK: - Names

    /// A NameSeg: exactly four bytes, shorter names padded with '_' ("_S5" → "_S5_"), as ASL does.
    public static func nameSegment(_ name: String) throws(AMLError) -> [UInt8] {
        let bytes = Array(name.utf8)
        guard (1...4).contains(bytes.count) else { throw .invalidNameSegment(name) }
        for (i, b) in bytes.enumerated() {
            let leadOK = (b >= 0x41 && b <= 0x5A) || b == 0x5F
            let digit = b >= 0x30 && b <= 0x39
            guard leadOK || (i > 0 && digit) else { throw .invalidNameSegment(name) }
        }
        return bytes + [UInt8](repeating: 0x5F, count: 4 - bytes.count)
    }

    /// A NameString: `\` (root) or `^`s (parents), then zero or more segments separated by '.'.
    /// Two segments use DualNamePrefix, more use MultiNamePrefix with a count; none is NullName.
    public static func nameString(_ path: String) throws(AMLError) -> [UInt8] {
        var rest = Substring(path)
        var out: [UInt8] = []
        if rest.first == "\\" {
            out.append(rootChar)
            rest = rest.dropFirst()
        } else {
            while rest.first == "^" { out.append(parentPrefixChar); rest = rest.dropFirst() }
        }
        if rest.isEmpty { return out + [zeroOp] }   // NullName: "\" alone is the root itself
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 255 else { throw .invalidNamePath(path) }
        var segments: [UInt8] = []
        for part in parts {
            do { segments += try nameSegment(String(part)) } catch { throw .invalidNamePath(path) }
        }
        switch parts.count {
        case 1: out += segments
        case 2: out += [dualNamePrefix] + segments
        default: out += [multiNamePrefix, UInt8(parts.count)] + segments
        }
        return out
    }

    // MARK: - Lengths and data

    /// PkgLength for a body of `bodyLength` bytes. The encoded value counts its own bytes too,
    /// which is why the form is chosen on body + form size: one byte holds up to 63 (6 bits);
    /// otherwise bits 7-6 of the lead byte give the number of following bytes (1-3), its low
    /// nibble the low 4 bits and each following byte 8 more bits (ACPI 6.5 §20.2.4).
    public static func packageLength(_ bodyLength: Int) throws(AMLError) -> [UInt8] {
        guard bodyLength >= 0 else { throw .lengthTooLarge(bodyLength) }
        if bodyLength + 1 <= 0x3F { return [UInt8(bodyLength + 1)] }
        for extra in 1...3 {
            let total = bodyLength + 1 + extra
            guard total < 1 << (4 + 8 * extra) else { continue }
            return pkgLengthBytes(total, following: extra)
        }
        throw .lengthTooLarge(bodyLength)
    }

    /// PkgLength's multi-byte layout for `value` with `following` (1-3) bytes after the lead byte:
    /// the lead byte holds the count in bits 7-6 and the value's low nibble, each following byte 8
    /// more bits.
    static func pkgLengthBytes(_ value: Int, following: Int) -> [UInt8] {
        var bytes = [UInt8(following << 6) | UInt8(value & 0xF)]
        for i in 0..<following { bytes.append(UInt8(truncatingIfNeeded: value >> (4 + 8 * i))) }
        return bytes
    }

    /// An Integer with the shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set: the DSDT is
    /// revision 2, so integers are 64-bit), else Byte/Word/DWord/QWord prefix and little-endian data.
    public static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: return [zeroOp]
        case 1: return [oneOp]
        case UInt64.max: return [onesOp]
        case ...0xFF: return [bytePrefix] + littleEndian(value, count: 1)
        case ...0xFFFF: return [wordPrefix] + littleEndian(value, count: 2)
        case ...0xFFFF_FFFF: return [dwordPrefix] + littleEndian(value, count: 4)
        default: return [qwordPrefix] + littleEndian(value, count: 8)
        }
    }

    /// A String: ASCII characters then NUL.
    public static func string(_ value: String) throws(AMLError) -> [UInt8] {
        let bytes = Array(value.utf8)
        guard bytes.allSatisfy({ $0 > 0 && $0 < 0x80 }) else { throw .invalidString(value) }
        return [stringPrefix] + bytes + [0]
    }

    /// The 32-bit compressed EISA id of "PNP0501": three letters of 5 bits ('A' = 1) then four hex
    /// digits, stored so that the bytes in memory read 0x41 0xD0 0x05 0x01 (the value is
    /// 0x0105D041 as a little-endian DWord), exactly what ASL's EISAID() produces.
    public static func eisaIDValue(_ id: String) throws(AMLError) -> UInt32 {
        let bytes = Array(id.utf8)
        guard bytes.count == 7, bytes[0..<3].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { throw .invalidEISAID(id) }
        var digits: [UInt32] = []
        for b in bytes[3..<7] {
            switch b {
            case 0x30...0x39: digits.append(UInt32(b - 0x30))
            case 0x41...0x46: digits.append(UInt32(b - 0x41 + 10))
            default: throw .invalidEISAID(id)
            }
        }
        let c = bytes[0..<3].map { UInt32($0 - 0x40) }
        let byte0 = (c[0] << 2) | (c[1] >> 3)
        let byte1 = ((c[1] & 0x7) << 5) | c[2]
        let byte2 = (digits[0] << 4) | digits[1]
        let byte3 = (digits[2] << 4) | digits[3]
        return byte0 | byte1 << 8 | byte2 << 16 | byte3 << 24
    }

    /// EISAID("PNP0501") as an Integer term (always a DWord: the value has bits in the top byte
    /// only for ids ending in 1xxx or more, but ASL emits a DWord regardless and so do we).
    public static func eisaID(_ id: String) throws(AMLError) -> [UInt8] {
        [dwordPrefix] + littleEndian(UInt64(try eisaIDValue(id)), count: 4)
    }

    /// Buffer(){bytes}: BufferOp PkgLength BufferSize ByteList.
    public static func buffer(_ bytes: [UInt8]) throws(AMLError) -> [UInt8] {
        let body = integer(UInt64(bytes.count)) + bytes
        return [bufferOp] + (try packageLength(body.count)) + body
    }

    /// Package(){elements}: PackageOp PkgLength NumElements PackageElementList.
    public static func package(_ elements: [[UInt8]]) throws(AMLError) -> [UInt8] {
        guard elements.count <= 255 else { throw .tooManyPackageElements(elements.count) }
        let body = [UInt8(elements.count)] + elements.flatMap { $0 }
        return [packageOp] + (try packageLength(body.count)) + body
    }

    // MARK: - Named objects

    /// Name(name, value): NameOp NameString DataRefObject.
    public static func name(_ path: String, _ value: [UInt8]) throws(AMLError) -> [UInt8] {
        [nameOp] + (try nameString(path)) + value
    }

    /// Scope(path){terms}: ScopeOp PkgLength NameString TermList.
    public static func scope(_ path: String, _ terms: [[UInt8]]) throws(AMLError) -> [UInt8] {
        let body = (try nameString(path)) + terms.flatMap { $0 }
        return [scopeOp] + (try packageLength(body.count)) + body
    }

    /// Device(name){terms}: ExtOpPrefix DeviceOp PkgLength NameString TermList.
    public static func device(_ path: String, _ terms: [[UInt8]]) throws(AMLError) -> [UInt8] {
        let body = (try nameString(path)) + terms.flatMap { $0 }
        return [extOpPrefix, deviceOp] + (try packageLength(body.count)) + body
    }

    static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Resource descriptors for `_CRS` (ACPI 6.5 §6.4). `ResourceTemplate(){...}` is a Buffer holding
/// the descriptors and an End Tag.
public enum AMLResource {
    /// ResourceTemplate(){descriptors}: a Buffer with the End Tag (0x79) appended. Its checksum
    /// byte is 0, which the spec defines as "treat the template as valid" (what iasl emits too).
    public static func template(_ descriptors: [[UInt8]]) throws(AMLError) -> [UInt8] {
        try AML.buffer(descriptors.flatMap { $0 } + [0x79, 0x00])
    }

    /// IO(Decode16 or Decode10, min, max, alignment, length): small item 0x47, 8 bytes.
    public static func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8,
                          decode16: Bool = true) -> [UInt8] {
        [0x47, decode16 ? 1 : 0] + AML.littleEndian(UInt64(minimum), count: 2)
            + AML.littleEndian(UInt64(maximum), count: 2) + [alignment, length]
    }

    /// IRQNoFlags(){irqs}: small item 0x22 with a 16-bit IRQ mask (edge, active high, exclusive).
    public static func irqNoFlags(_ irqs: [UInt32]) throws(AMLError) -> [UInt8] {
        var mask: UInt16 = 0
        for irq in irqs {
            guard irq < 16 else { throw .irqOutOfRange(irq) }
            mask |= 1 << UInt16(irq)
        }
        return [0x22] + AML.littleEndian(UInt64(mask), count: 2)
    }

    /// Memory32Fixed(ReadWrite or ReadOnly, base, length): large item 0x86, 12 bytes.
    public static func memory32Fixed(base: UInt32, length: UInt32, writable: Bool = true) -> [UInt8] {
        [0x86, 9, 0, writable ? 1 : 0] + AML.littleEndian(UInt64(base), count: 4)
            + AML.littleEndian(UInt64(length), count: 4)
    }

    public enum Trigger: Sendable { case edge, level }
    public enum Polarity: Sendable { case activeHigh, activeLow }

    /// Interrupt(ResourceConsumer, trigger, polarity, Exclusive or Shared){gsis}: the extended
    /// interrupt descriptor, large item 0x89. Flags: bit 0 consumer, bit 1 edge, bit 2 active low,
    /// bit 3 shared (ACPI 6.5 §6.4.3.6).
    public static func interrupt(_ gsis: [UInt32], trigger: Trigger, polarity: Polarity = .activeHigh,
                                 shared: Bool = false) throws(AMLError) -> [UInt8] {
        guard (1...255).contains(gsis.count) else { throw .interruptCount(gsis.count) }
        var flags: UInt8 = 0x01
        if trigger == .edge { flags |= 0x02 }
        if polarity == .activeLow { flags |= 0x04 }
        if shared { flags |= 0x08 }
        let body = [flags, UInt8(gsis.count)] + gsis.flatMap { AML.littleEndian(UInt64($0), count: 4) }
        return [0x89] + AML.littleEndian(UInt64(body.count), count: 2) + body
    }
}
