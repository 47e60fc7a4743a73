import Testing
@testable import GuestMemory

@Suite("GuestAddress")
struct GuestAddressTests {
    @Test func addingReportsOverflow() {
        #expect(GuestAddress(0x1000).adding(0x10) == GuestAddress(0x1010))
        #expect(GuestAddress(.max - 1).adding(1) == GuestAddress(.max))
        #expect(GuestAddress(.max).adding(1) == nil)
        #expect(GuestAddress(0xFFFF_FFFF_FFFF_FFFF).adding(2) == nil)
        #expect(GuestAddress(1).adding(.max) == nil)
    }

    @Test func offsetFromBase() {
        #expect(GuestAddress(0x1010).offset(from: GuestAddress(0x1000)) == 0x10)
        #expect(GuestAddress(0x1000).offset(from: GuestAddress(0x1000)) == 0)
        #expect(GuestAddress(0x0FFF).offset(from: GuestAddress(0x1000)) == nil)
    }

    @Test func alignment() {
        #expect(GuestAddress(0x1001).alignedUp(to: 0x1000) == GuestAddress(0x2000))
        #expect(GuestAddress(0x2000).alignedUp(to: 0x1000) == GuestAddress(0x2000))
        #expect(GuestAddress(0).alignedUp(to: 8) == GuestAddress(0))
        // Rounding up past 2^64 and non-power-of-two alignments are refused, not trapped.
        #expect(GuestAddress(.max).alignedUp(to: 0x1000) == nil)
        #expect(GuestAddress(0x1000).alignedUp(to: 3) == nil)
        #expect(GuestAddress(0x1000).alignedUp(to: 0) == nil)
        #expect(GuestAddress(0x1000).isAligned(to: 0x1000))
        #expect(!GuestAddress(0x1002).isAligned(to: 4))
        #expect(GuestAddress(0x1002).isAligned(to: 2))
        #expect(!GuestAddress(0x1000).isAligned(to: 0))
    }

    @Test func descriptionAndOrdering() {
        #expect(GuestAddress(0xfee0_0000).description == "0xfee00000")
        #expect(GuestAddress(0).description == "0x0")
        #expect(GuestAddress(1) < GuestAddress(2))
        #expect(!(GuestAddress(2) < GuestAddress(2)))
    }
}

@Suite("GuestRange")
struct GuestRangeTests {
    @Test func zeroLengthRejected() {
        #expect(GuestRange(start: GuestAddress(0x1000), length: 0) == nil)
    }

    @Test func wrappingRejected() {
        #expect(GuestRange(start: GuestAddress(0xFFFF_FFFF_FFFF_FFFF), length: 2) == nil)
        #expect(GuestRange(start: GuestAddress(2), length: .max) == nil)
        #expect(GuestRange(start: GuestAddress(1), length: .max) != nil)  // ends exactly at 2^64
        #expect(GuestRange(start: GuestAddress(.max - 0xFFF), length: 0x2000) == nil)
    }

    @Test func endingExactlyAtTopIsAllowed() throws {
        let last = try #require(GuestRange(start: GuestAddress(0xFFFF_FFFF_FFFF_FFFF), length: 1))
        #expect(last.last == GuestAddress(.max))
        #expect(last.end == nil)
        let whole = try #require(GuestRange(start: GuestAddress(0), length: .max))
        #expect(whole.last == GuestAddress(.max - 1))
        let top = try #require(GuestRange(start: GuestAddress(.max - 0xFFF), length: 0x1000))
        #expect(top.last == GuestAddress(.max))
    }

    @Test func containsAndOverlaps() throws {
        let r = try #require(GuestRange(start: GuestAddress(0x1000), length: 0x1000))
        #expect(r.last == GuestAddress(0x1FFF))
        #expect(r.end == GuestAddress(0x2000))
        #expect(r.contains(GuestAddress(0x1000)))
        #expect(r.contains(GuestAddress(0x1FFF)))
        #expect(!r.contains(GuestAddress(0x2000)))
        #expect(!r.contains(GuestAddress(0x0FFF)))

        let inner = try #require(GuestRange(start: GuestAddress(0x1800), length: 0x800))
        let straddling = try #require(GuestRange(start: GuestAddress(0x1800), length: 0x801))
        let adjacent = try #require(GuestRange(start: GuestAddress(0x2000), length: 0x1000))
        let before = try #require(GuestRange(start: GuestAddress(0), length: 0x1001))
        #expect(r.contains(inner))
        #expect(!r.contains(straddling))
        #expect(r.overlaps(straddling))
        #expect(!r.overlaps(adjacent))
        #expect(!adjacent.overlaps(r))
        #expect(r.overlaps(before))
        #expect(before.overlaps(r))
    }
}
