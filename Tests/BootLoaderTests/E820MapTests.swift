import BootLoader
import GuestMemory
import Testing

private func range(_ start: UInt64, _ length: UInt64) -> GuestRange {
    GuestRange(start: GuestAddress(start), length: length)!
}

@Suite struct E820MapTests {
    @Test func smallRAMSplitsAroundLegacyHole() throws {
        let map = E820Map(memory: try GuestMemoryMap.anonymous(size: mib(256)))
        #expect(map.entries == [
            E820Entry(range: range(0, 0x9_FC00), type: .ram),
            E820Entry(range: range(0x10_0000, mib(256) - 0x10_0000), type: .ram),
        ])
        #expect(map.ramSize == 0x9_FC00 + mib(255))
    }

    @Test func ramAbove3GiBResumesAt4GiB() throws {
        // 4 GiB of RAM: 3 GiB below the hole, 1 GiB above 4 GiB. Anonymous mappings are lazy.
        let map = E820Map(memory: try GuestMemoryMap.anonymous(size: 4 << 30))
        #expect(map.entries == [
            E820Entry(range: range(0, 0x9_FC00), type: .ram),
            E820Entry(range: range(0x10_0000, (3 << 30) - 0x10_0000), type: .ram),
            E820Entry(range: range(4 << 30, 1 << 30), type: .ram),
        ])
        // Nothing listed inside the MMIO hole.
        #expect(!map.entries.contains { $0.range.contains(GuestAddress(0xFEC0_0000)) })
    }

    @Test func regionInsideLegacyHoleIsDropped() {
        let map = E820Map(ramRegions: [range(0xA_0000, 0x6_0000)])
        #expect(map.entries.isEmpty)
    }

    @Test func addReservedCarvesRAM() {
        var map = E820Map(ramRegions: [range(0, mib(64))])
        map.addReserved(range(mib(32), 0x1_0000), type: .acpi)
        #expect(map.entries == [
            E820Entry(range: range(0, 0x9_FC00), type: .ram),
            E820Entry(range: range(0x10_0000, mib(31)), type: .ram),
            E820Entry(range: range(mib(32), 0x1_0000), type: .acpi),
            E820Entry(range: range(mib(32) + 0x1_0000, mib(32) - 0x1_0000), type: .ram),
        ])
        // A reserved range in a gap is simply added, in order.
        map.addReserved(range(0xE_0000, 0x2_0000))
        #expect(map.entries[1] == E820Entry(range: range(0xE_0000, 0x2_0000), type: .reserved))
        #expect(map.entries.count == 5)
    }

    @Test func addReservedOverTailAndAdjacentMerge() {
        var map = E820Map(ramRegions: [range(0x10_0000, mib(1))])
        map.addReserved(range(0x18_0000, mib(1)))   // overlaps the tail and runs past it
        #expect(map.entries == [
            E820Entry(range: range(0x10_0000, 0x8_0000), type: .ram),
            E820Entry(range: range(0x18_0000, mib(1)), type: .reserved),
        ])
        map.addReserved(range(0x28_0000, 0x1000))   // adjacent, same type: merged
        #expect(map.entries.last == E820Entry(range: range(0x18_0000, mib(1) + 0x1000), type: .reserved))
    }

    @Test func regionReachingTopOfAddressSpace() {
        let map = E820Map(ramRegions: [range(0xFFFF_FFFF_0000_0000, 1 << 32)])
        #expect(map.entries == [E820Entry(range: range(0xFFFF_FFFF_0000_0000, 1 << 32), type: .ram)])
    }

    @Test func zeroPageEncoding() {
        let map = E820Map(ramRegions: [range(0, mib(8))])
        let bytes = map.zeroPageBytes()
        #expect(bytes.count == 40)
        #expect(le(bytes, 0, as: UInt64.self) == 0)
        #expect(le(bytes, 8, as: UInt64.self) == 0x9_FC00)
        #expect(le(bytes, 16, as: UInt32.self) == 1)
        #expect(le(bytes, 20, as: UInt64.self) == 0x10_0000)
        #expect(le(bytes, 28, as: UInt64.self) == mib(7))
        #expect(le(bytes, 36, as: UInt32.self) == 1)
    }
}
