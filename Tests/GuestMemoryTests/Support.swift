import Testing
@testable import GuestMemory

/// Layout used by most map tests:
///   A [0x0000, 0x2000)  B [0x2000, 0x3000)  (adjacent)
///   gap [0x3000, 0x10000)
///   C [0x10000, 0x11000)
///   D [2^64 - 0x1000, 2^64)  (ends exactly at the top of the address space)
struct TestLayout {
    let map: GuestMemoryMap
    var a: GuestRegion { map.regions[0] }
    var b: GuestRegion { map.regions[1] }
    var c: GuestRegion { map.regions[2] }
    var d: GuestRegion { map.regions[3] }

    static let topRegionStart = GuestAddress(0xFFFF_FFFF_FFFF_F000)

    init() throws {
        // Deliberately unsorted: the map sorts.
        map = try GuestMemoryMap(regions: [
            .anonymous(at: GuestAddress(0x10000), size: 0x1000),
            .anonymous(at: Self.topRegionStart, size: 0x1000),
            .anonymous(at: GuestAddress(0x2000), size: 0x1000),
            .anonymous(at: GuestAddress(0), size: 0x2000),
        ])
    }
}

/// Bytes 0, 1, 2, … (mod 256), so misplaced copies show up.
func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed }
}
