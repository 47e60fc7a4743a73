// A range of guest-physical addresses. The invariant (non-empty, does not wrap past 2^64) is checked
// once at construction so that everything downstream can compute `last` without overflow checks.

/// A non-empty, non-wrapping range [start, start+length).
public struct GuestRange: Hashable, Sendable, CustomStringConvertible {
    public let start: GuestAddress
    public let length: UInt64

    /// nil for length 0 or when start + length > 2^64. A range may end exactly at 2^64: its `last`
    /// is 0xFFFF_FFFF_FFFF_FFFF, which is why the range stores a length and not an exclusive end.
    public init?(start: GuestAddress, length: UInt64) {
        guard length > 0 else { return nil }
        // length - 1 cannot wrap because length > 0; the sum is what must be checked.
        guard start.adding(length &- 1) != nil else { return nil }
        self.start = start
        self.length = length
    }

    /// start + length - 1: the last address inside the range.
    public var last: GuestAddress {
        // Cannot overflow: the initializer proved start + (length - 1) fits in 64 bits.
        GuestAddress(start.raw &+ (length &- 1))
    }

    /// The first address after the range, or nil when the range ends exactly at 2^64.
    public var end: GuestAddress? {
        start.adding(length)
    }

    public func contains(_ a: GuestAddress) -> Bool {
        a >= start && a <= last
    }

    public func contains(_ r: GuestRange) -> Bool {
        contains(r.start) && contains(r.last)
    }

    public func overlaps(_ r: GuestRange) -> Bool {
        start <= r.last && r.start <= last
    }

    public var description: String {
        "[\(start), \(last)]"
    }
}
