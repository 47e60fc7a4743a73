// One bit per 4 KiB page of a region. Used for VMM-side writes (devices, loaders) so that live
// migration or snapshotting can copy only what changed; KVM's own dirty log covers guest writes.

/// A fixed-size page bitmap. Not thread-safe by itself: GuestRegion keeps it behind a Mutex.
struct DirtyBitmap: Sendable {
    static let pageSize: UInt64 = PageSize.small

    let pageCount: UInt64
    private var words: [UInt64]

    init(regionSize: UInt64) {
        // Round up so a trailing partial page (never created by GuestRegion, but cheap to allow)
        // still has a bit.
        let pages = regionSize / Self.pageSize + (regionSize % Self.pageSize == 0 ? 0 : 1)
        pageCount = pages
        words = Array(repeating: 0, count: Int(pages / 64 + (pages % 64 == 0 ? 0 : 1)))
    }

    /// Marks every page touched by [offset, offset + count). Bits past the bitmap are ignored rather
    /// than trapping: callers pass validated offsets, and a bookkeeping error must not kill the VMM.
    mutating func mark(offset: UInt64, count: UInt64) {
        guard count > 0, pageCount > 0 else { return }
        let (lastByte, overflow) = offset.addingReportingOverflow(count &- 1)
        let firstPage = offset / Self.pageSize
        guard firstPage < pageCount else { return }
        let lastPage = overflow ? pageCount &- 1 : min(lastByte / Self.pageSize, pageCount &- 1)
        // Whole words at a time: a multi-megabyte fill should not loop page by page.
        var page = firstPage
        while page <= lastPage {
            let bit = page % 64
            let bitsInWord = min(64 &- bit, lastPage &- page &+ 1)  // ≥ 1, ≤ 64: no wrap
            let mask: UInt64 = bitsInWord == 64 ? ~0 : ((1 << bitsInWord) &- 1) << bit
            words[Int(page / 64)] |= mask
            page &+= bitsInWord  // page ≤ lastPage < 2^52, cannot wrap
        }
    }

    /// Sorted indices of the dirty pages; clears the bitmap.
    mutating func take() -> [UInt64] {
        var pages: [UInt64] = []
        for index in words.indices where words[index] != 0 {
            var word = words[index]
            while word != 0 {
                let bit = UInt64(word.trailingZeroBitCount)
                pages.append(UInt64(index) &* 64 &+ bit)
                word &= word &- 1  // clear the lowest set bit
            }
            words[index] = 0
        }
        return pages
    }
}
