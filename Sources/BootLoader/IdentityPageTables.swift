// The identity map both entry setups use (simple test guests and Linux): one PML4 entry, a PDPT with
// one entry per GiB, and that many page directories of 2 MiB pages, laid out in consecutive pages.

enum IdentityPageTables {
    /// The bytes of PML4 (at `pml4`), PDPT (at `pml4` + 4 KiB) and `directories` page directories
    /// (from `pml4` + 8 KiB), mapping [0, directories GiB) onto itself. The caller's layout puts the
    /// tables at exactly those addresses (its tests check each entry where it lands).
    static func bytes(pml4: UInt64, directories: Int, tableFlags: UInt64, largePageFlags: UInt64) -> [UInt8] {
        let page = 0x1000
        let pdpt = pml4 + UInt64(page)
        let firstDirectory = pdpt + UInt64(page)
        var tables = [UInt64](repeating: 0, count: (2 + directories) * page / 8)
        tables[0] = pdpt | tableFlags
        for directory in 0..<directories {
            tables[page / 8 + directory] = (firstDirectory + UInt64(directory * page)) | tableFlags
            for slot in 0..<512 {
                let frame = UInt64(directory * 512 + slot) << 21
                tables[2 * page / 8 + directory * 512 + slot] = frame | largePageFlags
            }
        }
        return tables.flatMap(littleEndianBytes)
    }
}

/// The eight little-endian bytes of `value`, as x86 descriptor tables and page tables store it.
func littleEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}
