// The guest's physical memory map as firmware would report it through INT 15h/E820, and as both
// Linux boot protocols carry it (boot_params.e820_table, PVH's hvm_memmap_table). Built from the
// RAM layout the way Firecracker and Cloud Hypervisor do: low RAM stops at the conventional EBDA
// start (0x9FC00) and resumes at 1 MiB, so the EBDA / VGA / option-ROM / BIOS area is not RAM; the
// 32-bit MMIO hole is a gap because GuestMemoryMap has no RAM there. A gap is what a PC BIOS
// reports too: Linux never allocates from addresses the map does not list as RAM.
import GuestMemory

/// E820 / hvm_memmap entry types (the values are the same in both tables).
public enum E820Type: UInt32, Sendable, CaseIterable {
    case ram = 1
    case reserved = 2
    /// ACPI tables, reclaimable once the OS has parsed them.
    case acpi = 3
    /// ACPI non-volatile storage.
    case nvs = 4
    case unusable = 5
    case persistentMemory = 7
}

public struct E820Entry: Equatable, Sendable {
    public var range: GuestRange
    public var type: E820Type
    public init(range: GuestRange, type: E820Type) { self.range = range; self.type = type }
}

public struct E820Map: Equatable, Sendable {
    /// Where conventional low RAM ends: the EBDA conventionally occupies [0x9FC00, 0xA0000).
    public static let lowRAMEnd = GuestAddress(0x9_FC00)
    /// RAM resumes above the legacy VGA / ROM / BIOS area [0xA0000, 0x100000).
    public static let highRAMStart = GuestAddress(0x10_0000)

    /// Sorted by start, non-overlapping; adjacent entries of the same type are merged.
    public private(set) var entries: [E820Entry]

    public init(entries: [E820Entry] = []) {
        self.entries = []
        for entry in entries { add(entry.range, type: entry.type) }
    }

    /// The map of `memory`'s regions, with the legacy hole [0x9FC00, 1 MiB) left out.
    public init(memory: GuestMemoryMap) {
        self.init(ramRegions: memory.regions.map(\.range))
    }

    /// The same from bare ranges, for callers that lay memory out before allocating it.
    public init(ramRegions: [GuestRange]) {
        self.entries = []
        for region in ramRegions {
            for piece in Self.withoutLegacyHole(region) { add(piece, type: .ram) }
        }
    }

    /// Marks `range` as `type` (e.g. ACPI tables as `.acpi`, a device window as `.reserved`):
    /// any RAM or other entry overlapping it is cut back, so the range is listed exactly once.
    public mutating func addReserved(_ range: GuestRange, type: E820Type = .reserved) {
        add(range, type: type)
    }

    /// RAM bytes listed.
    public var ramSize: UInt64 {
        entries.filter { $0.type == .ram }.reduce(0) { $0 &+ $1.range.length }
    }

    /// The entries as boot_params stores them: addr u64, size u64, type u32, packed (20 bytes).
    public func zeroPageBytes() -> [UInt8] {
        var out = LittleEndianBytes(count: entries.count * LinuxBootParams.e820EntrySize)
        for (i, e) in entries.enumerated() {
            let base = i * LinuxBootParams.e820EntrySize
            out.put(e.range.start.raw, at: base)
            out.put(e.range.length, at: base + 8)
            out.put(e.type.rawValue, at: base + 16)
        }
        return out.bytes
    }

    // MARK: - Internals

    /// `region` minus [lowRAMEnd, highRAMStart): zero, one or two pieces.
    static func withoutLegacyHole(_ region: GuestRange) -> [GuestRange] {
        var pieces: [GuestRange] = []
        let end = region.end   // nil only when the region reaches 2^64
        if region.start < lowRAMEnd {
            let stop = end.map { min($0, lowRAMEnd) } ?? lowRAMEnd
            if let low = GuestRange(start: region.start, length: stop.raw - region.start.raw) { pieces.append(low) }
        }
        let from = max(region.start, highRAMStart)
        if let end {
            if from < end, let high = GuestRange(start: from, length: end.raw - from.raw) { pieces.append(high) }
        } else if let high = GuestRange(start: from, length: 0 &- from.raw) {
            pieces.append(high)   // up to 2^64: length is 2^64 - from, which fits because from > 0
        }
        return pieces
    }

    /// Inserts `range` as `type`, trimming whatever it overlaps, then restores order and merges.
    private mutating func add(_ range: GuestRange, type: E820Type) {
        var result: [E820Entry] = []
        for entry in entries {
            guard entry.range.overlaps(range) else { result.append(entry); continue }
            // Keep the parts of the old entry on either side of the new range.
            if entry.range.start < range.start,
               let left = GuestRange(start: entry.range.start, length: range.start.raw - entry.range.start.raw) {
                result.append(E820Entry(range: left, type: entry.type))
            }
            if entry.range.last > range.last, let after = range.last.adding(1),
               let right = GuestRange(start: after, length: entry.range.last.raw - range.last.raw) {
                result.append(E820Entry(range: right, type: entry.type))
            }
        }
        result.append(E820Entry(range: range, type: type))
        result.sort { $0.range.start < $1.range.start }
        entries = Self.merged(result)
    }

    private static func merged(_ sorted: [E820Entry]) -> [E820Entry] {
        var out: [E820Entry] = []
        for entry in sorted {
            if let previous = out.last, previous.type == entry.type, let end = previous.range.end,
               end == entry.range.start, previous.range.length <= UInt64.max - entry.range.length,
               let joined = GuestRange(start: previous.range.start, length: previous.range.length + entry.range.length) {
                out[out.count - 1] = E820Entry(range: joined, type: entry.type)
            } else {
                out.append(entry)
            }
        }
        return out
    }
}

/// A little-endian byte buffer for building guest structures at fixed offsets. Callers size it for
/// the structure first, so offsets are program constants and never come from untrusted input.
struct LittleEndianBytes {
    private(set) var bytes: [UInt8]
    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

    mutating func put<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size where offset + i < bytes.count {
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i))
        }
    }

    mutating func put(_ raw: [UInt8], at offset: Int) {
        for (i, byte) in raw.enumerated() where offset + i < bytes.count { bytes[offset + i] = byte }
    }
}
