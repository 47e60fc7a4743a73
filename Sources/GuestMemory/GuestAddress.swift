// A guest-physical address. Guest-controlled values flow into this type (descriptor addresses,
// boot-protocol fields), so it deliberately has no `+`: every arithmetic operation reports overflow
// as `nil`, and the caller turns that into an error instead of trapping the whole VMM.

/// A guest-physical address. Checked arithmetic only: no `+` that can overflow silently.
public struct GuestAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt64

    public init(_ raw: UInt64) {
        self.raw = raw
    }

    /// `self + offset`, or nil when the sum does not fit in 64 bits.
    public func adding(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = raw.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    /// `self - base`, or nil when `self < base` (a negative distance is never meaningful here).
    public func offset(from base: GuestAddress) -> UInt64? {
        let (difference, overflow) = raw.subtractingReportingOverflow(base.raw)
        return overflow ? nil : difference
    }

    /// The smallest address ≥ self that is a multiple of `alignment`, or nil when `alignment` is
    /// not a power of two or rounding up would pass 2^64.
    public func alignedUp(to alignment: UInt64) -> GuestAddress? {
        guard alignment.nonzeroBitCount == 1 else { return nil }
        let mask = alignment &- 1  // cannot wrap: alignment ≥ 1
        let (bumped, overflow) = raw.addingReportingOverflow(mask)
        return overflow ? nil : GuestAddress(bumped & ~mask)
    }

    /// Whether `self` is a multiple of `alignment`. An alignment of 0 is meaningless and answers false.
    public func isAligned(to alignment: UInt64) -> Bool {
        guard alignment != 0 else { return false }
        return raw % alignment == 0
    }

    public var description: String {
        "0x" + String(raw, radix: 16)
    }

    public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool {
        lhs.raw < rhs.raw
    }
}
