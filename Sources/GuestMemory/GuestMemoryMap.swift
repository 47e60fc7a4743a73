// The guest's physical memory layout: which guest-physical ranges are RAM and which region backs
// each. Lookups and range validation live here; the byte accessors are in GuestMemoryMap+Access.

/// The guest's physical memory: sorted, non-overlapping regions (need not be contiguous).
/// Immutable after creation, safe to share between threads.
public final class GuestMemoryMap: Sendable {
    /// Start of the 32-bit MMIO hole that `anonymous(size:)` leaves free (3 GiB): LAPIC, IOAPIC,
    /// HPET, PCI BARs and the firmware flash conventionally live between here and 4 GiB.
    public static let mmioHoleStart = GuestAddress(3 << 30)
    /// End of the 32-bit MMIO hole (4 GiB): RAM above the hole resumes here.
    public static let mmioHoleEnd = GuestAddress(4 << 30)

    public let regions: [GuestRegion]  // sorted by start

    /// Sorts the regions and rejects any overlap. Regions may be adjacent (accesses then cross
    /// them transparently) or have gaps (accesses into a gap fail with .outOfBounds).
    public init(regions: [GuestRegion]) throws(GuestMemoryError) {
        let sorted = regions.sorted { $0.start < $1.start }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.range.overlaps(next.range) {
            throw .overlappingRegions(previous.range, next.range)
        }
        self.regions = sorted
    }

    /// Anonymous RAM from 0 of `size` bytes. Up to 3 GiB it is one region [0, size). Above that
    /// the RAM is split around the 32-bit MMIO hole, as on a PC: [0, 3 GiB) and
    /// [4 GiB, 4 GiB + (size - 3 GiB)), so the guest still gets `size` bytes in total.
    public static func anonymous(size: UInt64) throws(GuestMemoryError) -> GuestMemoryMap {
        let low = mmioHoleStart.raw
        guard size > low else {
            return try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: size)])
        }
        let highSize = size - low  // size > low: no wrap
        return try GuestMemoryMap(regions: [
            .anonymous(at: GuestAddress(0), size: low),
            .anonymous(at: mmioHoleEnd, size: highSize),
        ])
    }

    /// The region whose range contains `address`, or nil for a gap.
    public func region(containing address: GuestAddress) -> GuestRegion? {
        regionIndex(containing: address).map { regions[$0] }
    }

    /// Whether every byte of `range` is RAM, possibly across adjacent regions.
    public func isValid(_ range: GuestRange) -> Bool {
        (try? resolve(range.start, length: range.length)) != nil
    }

    /// Sum of the region sizes (saturating at UInt64.max, reachable only by mapping all of 2^64).
    public var totalSize: UInt64 {
        regions.reduce(0) { total, region in
            let (sum, overflow) = total.addingReportingOverflow(region.size)
            return overflow ? .max : sum
        }
    }

    // MARK: - Internals

    /// Binary search: the last region starting at or before `address`, if it contains it.
    func regionIndex(containing address: GuestAddress) -> Int? {
        var low = 0
        var high = regions.count
        while low < high {
            let mid = low + (high - low) / 2
            if regions[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, regions[low - 1].range.contains(address) else { return nil }
        return low - 1
    }

    /// A validated access: starts `offset` bytes into region `regionIndex`, `length` bytes long,
    /// and every byte is RAM. Only `resolve` makes one, so the copy loops need no further checks.
    struct Span {
        let regionIndex: Int
        let offset: UInt64
        let length: UInt64
    }

    /// Checks the whole access before anything is touched: nil for length 0 (nothing to do),
    /// .invalidRange if it wraps past 2^64, .outOfBounds unless every byte is in RAM.
    func resolve(_ address: GuestAddress, length: UInt64) throws(GuestMemoryError) -> Span? {
        guard length > 0 else { return nil }
        guard GuestRange(start: address, length: length) != nil else {
            throw .invalidRange(start: address, length: length)
        }
        guard let first = regionIndex(containing: address) else {
            throw .outOfBounds(address: address, length: length)
        }
        let offset = address.raw - regions[first].start.raw  // the region contains address: no wrap
        var index = first
        var available = regions[index].size - offset  // offset < size: no wrap
        var remaining = length
        while remaining > available {
            remaining -= available  // remaining > available: no wrap
            // The access continues only into a region that starts exactly where this one ends.
            guard let end = regions[index].range.end, index + 1 < regions.count, regions[index + 1].start == end else {
                throw .outOfBounds(address: address, length: length)
            }
            index += 1
            available = regions[index].size
        }
        return Span(regionIndex: first, offset: offset, length: length)
    }

    /// Calls `body(region, offsetInRegion, count, offsetInAccess)` for each piece of a validated span.
    /// All values fit in Int: each is bounded by a region size, which was proved to fit at mmap.
    func forEachChunk(_ span: Span, _ body: (GuestRegion, Int, Int, Int) -> Void) {
        var index = span.regionIndex
        var offset = span.offset
        var done: UInt64 = 0
        while done < span.length {
            let region = regions[index]
            let count = min(region.size - offset, span.length - done)  // offset < size, done < length
            body(region, Int(offset), Int(count), Int(clamping: done))  // done fits: only Int-sized buffers read it
            done += count  // ≤ span.length
            index += 1
            offset = 0
        }
    }
}
