// An ISO 9660 image built in memory: the launcher writes cloud-init's NoCloud (`cidata`) and
// ConfigDrive (`config-2`) disks itself instead of running genisoimage/xorrisofs, so the launcher
// image needs no ISO tool. The image has what `genisoimage -J -r` gives: a primary volume with
// level-1 (8.3, upper-case) names, Rock Ridge entries carrying the real names and POSIX modes (what
// Linux mounts by default), and a Joliet supplementary volume with the same names in UCS-2 (what
// Windows and cloudbase-init read). Layout and serialisation live in ISO9660Writer.swift.
import Glibc

/// Why an image cannot be built. Each case names the path or field at fault.
public enum ISO9660Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The volume identifier is empty, longer than 32 bytes, or has a character outside `A-Z a-z 0-9 _ - .`.
    case invalidVolumeIdentifier(String)
    /// A path component is unusable; `reason` says why (empty, too long, a forbidden character...).
    case invalidName(path: String, reason: String)
    /// The path was added before, or a file and a directory would share it.
    case duplicatePath(String)
    /// ISO 9660 allows at most 8 directory levels, the root included (ECMA-119 6.8.2.1).
    case tooDeep(path: String)
    /// One extent holds at most 4 GiB - 1 bytes, and the whole image must stay below 2^32 sectors.
    case tooLarge(path: String, byteCount: Int)

    public var description: String {
        switch self {
        case .invalidVolumeIdentifier(let id): "volume identifier '\(id)' must be 1-32 characters of A-Z a-z 0-9 _ - ."
        case .invalidName(let path, let reason): "'\(path)': \(reason)"
        case .duplicatePath(let path): "'\(path)' is already in the image"
        case .tooDeep(let path): "'\(path)' is deeper than the 8 directory levels ISO 9660 allows"
        case .tooLarge(let path, let count): "'\(path)' of \(count) bytes is too large for an ISO 9660 extent"
        }
    }
}

/// A UTC time as ISO 9660 records it (seconds resolution).
public struct ISO9660Timestamp: Equatable, Sendable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }

    /// Seconds since 1970-01-01 UTC, converted with the civil-from-days algorithm (no libc time zone).
    public init(unixTime: Int64) {
        let days = unixTime >= 0 ? unixTime / 86_400 : (unixTime - 86_399) / 86_400
        let secondsOfDay = Int(unixTime - days * 86_400)
        // Howard Hinnant's days_from_civil inverse: exact for the proleptic Gregorian calendar.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.init(year: Int(year), month: Int(month), day: Int(day), hour: secondsOfDay / 3600,
                  minute: secondsOfDay / 60 % 60, second: secondsOfDay % 60)
    }

    /// The 7-byte form of directory records (ECMA-119 9.1.5): years since 1900, then fields, GMT offset 0.
    /// Years outside 1900...2155 are clamped: the field is one byte.
    var directoryRecordBytes: [UInt8] {
        [UInt8(min(max(year - 1900, 0), 255)), UInt8(month), UInt8(day), UInt8(hour), UInt8(minute),
         UInt8(second), 0]
    }

    /// The 17-byte form of volume descriptors (ECMA-119 8.4.26.1): "YYYYMMDDHHMMSScc" digits, GMT offset 0.
    var volumeDescriptorBytes: [UInt8] {
        func digits(_ value: Int, _ width: Int) -> [UInt8] {
            var text = Array(String(min(max(value, 0), width == 4 ? 9999 : 99)).utf8)
            while text.count < width { text.insert(UInt8(ascii: "0"), at: 0) }
            return text
        }
        return digits(year, 4) + digits(month, 2) + digits(day, 2) + digits(hour, 2) + digits(minute, 2)
            + digits(second, 2) + digits(0, 2) + [0]
    }
}

/// Files and directories to put on an ISO 9660 image. Paths use `/` between components and are
/// relative to the root (`openstack/latest/meta_data.json`); parent directories appear as needed.
public struct ISO9660Image: Sendable {
    /// Longest component: Joliet allows 64 UCS-2 characters; in UTF-8, Rock Ridge's NM entry must
    /// still fit one 255-byte directory record beside the other entries (no continuation needed).
    public static let maxNameUTF16 = 64
    public static let maxNameUTF8 = 128
    /// Directory components below the root: the root is level 1 of the 8 levels ECMA-119 6.8.2.1 allows.
    public static let maxDirectoryDepth = 7

    public let volumeIdentifier: String
    public var recordingTime: ISO9660Timestamp

    /// Directories by path components; the root is `[]`.
    private(set) var directories: Set<[String]> = [[]]
    private(set) var files: [[String]: [UInt8]] = [:]

    public init(volumeIdentifier: String, recordingTime: ISO9660Timestamp) throws(ISO9660Error) {
        let bytes = Array(volumeIdentifier.utf8)
        let allowed = bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        guard !bytes.isEmpty, bytes.count <= 32, allowed else { throw .invalidVolumeIdentifier(volumeIdentifier) }
        self.volumeIdentifier = volumeIdentifier
        self.recordingTime = recordingTime
    }

    /// Adds a file; its parent directories are created. Contents are copied into the image as given.
    public mutating func addFile(_ path: String, contents: [UInt8]) throws(ISO9660Error) {
        let components = try Self.components(of: path)
        guard contents.count <= Int(UInt32.max) - 2047 else { throw .tooLarge(path: path, byteCount: contents.count) }
        guard files[components] == nil, !directories.contains(components) else { throw .duplicatePath(path) }
        guard components.count - 1 <= Self.maxDirectoryDepth else { throw .tooDeep(path: path) }
        try addParents(of: components, path: path)
        files[components] = contents
    }

    /// Adds an (empty unless files are added under it) directory and its parents.
    public mutating func addDirectory(_ path: String) throws(ISO9660Error) {
        let components = try Self.components(of: path)
        guard files[components] == nil else { throw .duplicatePath(path) }
        guard components.count <= Self.maxDirectoryDepth else { throw .tooDeep(path: path) }
        try addParents(of: components, path: path)
        directories.insert(components)
    }

    private mutating func addParents(of components: [String], path: String) throws(ISO9660Error) {
        for length in 1..<components.count {
            let parent = Array(components.prefix(length))
            guard files[parent] == nil else { throw .duplicatePath(parent.joined(separator: "/")) }
            directories.insert(parent)
        }
    }

    /// Splits and validates a path. Hostile names are refused rather than rewritten: an image
    /// whose names differ from what was asked for would break cloud-init silently.
    static func components(of path: String) throws(ISO9660Error) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, !parts.isEmpty else { throw .invalidName(path: path, reason: "empty path") }
        for part in parts {
            try validate(component: part, path: path)
        }
        return parts
    }

    static func validate(component: String, path: String) throws(ISO9660Error) {
        if component.isEmpty { throw .invalidName(path: path, reason: "empty component (leading, trailing or double '/')") }
        if component == "." || component == ".." { throw .invalidName(path: path, reason: "'.' and '..' are not names") }
        if component.utf8.count > maxNameUTF8 || component.utf16.count > maxNameUTF16 {
            throw .invalidName(path: path, reason: "component longer than \(maxNameUTF16) characters / \(maxNameUTF8) bytes")
        }
        for scalar in component.unicodeScalars {
            // Joliet (and Windows readers) forbid these; controls have no place in a file name.
            if scalar.value < 0x20 || scalar.value == 0x7F || "*/:;?\\".unicodeScalars.contains(scalar) {
                throw .invalidName(path: path, reason: "character U+\(String(scalar.value, radix: 16, uppercase: true)) is not allowed")
            }
            // Joliet is UCS-2: a character outside the Basic Multilingual Plane has no encoding there.
            if scalar.value > 0xFFFF {
                throw .invalidName(path: path, reason: "character U+\(String(scalar.value, radix: 16, uppercase: true)) is outside UCS-2")
            }
        }
    }

    /// The finished image: a whole number of 2048-byte sectors.
    public func serialized() throws(ISO9660Error) -> [UInt8] {
        var writer = ISO9660Writer(image: self)
        return try writer.write()
    }
}

extension ISO9660Timestamp {
    /// The current UTC time from the real-time clock.
    public static func now() -> ISO9660Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return ISO9660Timestamp(unixTime: Int64(spec.tv_sec))
    }
}
