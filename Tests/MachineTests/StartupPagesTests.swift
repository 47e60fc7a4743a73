// StartupPages.release against the kernel's own accounting (/proc/self/pagemap): a read-only
// private file mapping's resident pages leave the resident set and come back unchanged, and a
// copy-on-write page in such a mapping (what a debugger's breakpoint makes) is never dropped.
import Foundation
import Glibc
import Machine
import Testing

@Suite struct StartupPagesTests {
    /// Whether each page of [base, base + pages × 4 KiB) is resident, and whether it is anonymous.
    static func residency(_ base: UInt, pages: Int) throws -> [(present: Bool, anonymous: Bool)] {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var entries = [UInt64](repeating: 0, count: pages)
        let got = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(base / 4096 * 8)) }
        try #require(got == pages * 8)
        return entries.map { ($0 >> 63 & 1 == 1, $0 >> 63 & 1 == 1 && $0 >> 61 & 1 == 0) }
    }

    @Test func readOnlyFilePagesLeaveTheResidentSetAndCopyOnWritePagesStay() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-pages-\(getpid())").path
        let pages = 64
        var content = [UInt8](repeating: 0, count: pages * 4096)
        for i in content.indices { content[i] = UInt8(truncatingIfNeeded: i / 4096 + 1) }
        try Data(content).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        // Private and writable at first, so page 5 can be made a copy-on-write page, then read-only
        // as a text segment is.
        let mapped = mmap(nil, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        let base = try #require(mapped == MAP_FAILED ? nil : mapped)
        defer { munmap(base, pages * 4096) }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        var sum = 0
        for page in 0..<pages { sum += Int(bytes[page * 4096]) }
        #expect(sum == (1...pages).reduce(0, +))
        bytes[5 * 4096] = 0xEE
        #expect(mprotect(base, pages * 4096, PROT_READ) == 0)
        let address = UInt(bitPattern: base)
        let before = try Self.residency(address, pages: pages)
        let allPresent = before.allSatisfy { $0.present }
        #expect(allPresent, "every page was touched")
        #expect(before[5].anonymous && !before[4].anonymous)

        let released = try StartupPages.release().get()
        #expect(released >= (pages - 1) * 4096, "at least this mapping's file pages: \(released)")
        let after = try Self.residency(address, pages: pages)
        let dropped = after.enumerated().allSatisfy { $0.offset == 5 || !$0.element.present }
        #expect(dropped, "file pages dropped")
        #expect(after[5].present && after[5].anonymous, "the copy-on-write page is kept")
        // Reading again maps the file's bytes back; the modified page still holds its write.
        #expect(bytes[4 * 4096] == 5 && bytes[63 * 4096] == 64)
        #expect(bytes[5 * 4096] == 0xEE)
    }
}
