// Dirty-page logging: the pages the guest wrote, and only those.
//
// Host writes (the loader, FlatX86Setup's tables) go straight to the mapping and are never logged.
// The CPU itself may write guest memory while the program runs: Accessed/Dirty bits in page tables
// and the Accessed bit of GDT descriptors. FlatX86Setup presets those bits, but the exact test does
// not rely on it: the data area the program writes is a slot of its own, away from the tables.
import BootLoader
import GuestMemory
import KVMCore
import Testing
import TestSupport

@Suite("Dirty-page logging", .enabled(if: KVMGate.available, KVMGate.reason))
struct DirtyLogTests {
    /// dirty_pages.S writes these guest-physical bytes.
    static let writes: [(GuestAddress, UInt8)] = [
        (GuestAddress(0x20_0000), 0xA0), (GuestAddress(0x20_1008), 0xA1),
        (GuestAddress(0x20_3FFF), 0xA2), (GuestAddress(0x2F_F800), 0xA3),
    ]
    static let dataStart = GuestAddress(0x20_0000)
    static let dataSize: UInt64 = 0x10_0000   // 0x200000 .. 0x2FFFFF: 256 pages

    static func runToHalt(_ vcpu: VCPU) throws {
        let exit = try vcpu.run()
        guard exit == .hlt else { throw UnexpectedExit(exit: exit, context: "dirty_pages should only halt") }
    }

    @Test func dataSlotReportsExactlyTheWrittenPages() throws {
        let machine = try TestVM()   // slot 0: [0, 2 MiB), no logging
        _ = try machine.load(.dirtyPages)
        let data = try GuestRegion.anonymous(at: Self.dataStart, size: Self.dataSize)
        try machine.vm.mapMemory(slot: 1, region: data, flags: .logDirtyPages)
        // Host writes into the logged slot before the run are not guest writes.
        let dataMap = try GuestMemoryMap(regions: [data])
        try dataMap.write([1, 2, 3], at: GuestAddress(0x28_0000))
        #expect(try machine.vm.dirtyPages(slot: 1) == [])

        let vcpu = try machine.makeVCPU(id: 0, mode: .long64)
        try Self.runToHalt(vcpu)

        // Page indices within slot 1: frames 0x200, 0x201, 0x203, 0x2FF.
        #expect(try machine.vm.dirtyPages(slot: 1) == [0x00, 0x01, 0x03, 0xFF])
        for (address, byte) in Self.writes {
            #expect(try dataMap.load(UInt8.self, at: address) == byte, "byte at \(address)")
        }
        // Reading the log clears it: nothing new since.
        #expect(try machine.vm.dirtyPages(slot: 1) == [])
        // Resumed, the program only halts again: still nothing written.
        try Self.runToHalt(vcpu)
        #expect(try machine.vm.dirtyPages(slot: 1) == [])
    }

    @Test func oneSlotForAllRAMSeesTheProgramsPagesAndAtMostCPUTableUpdates() throws {
        // The whole RAM in one logged slot: the program's four pages must be there; anything else
        // may only be a page the CPU itself updates (GDT/TSS page 0, page tables 1...6).
        let machine = try TestVM(ramSize: 0x40_0000, ramFlags: .logDirtyPages)
        _ = try machine.load(.dirtyPages)
        #expect(try machine.vm.dirtyPages(slot: 0) == [], "loader and table writes are host writes")
        let vcpu = try machine.makeVCPU(id: 0, mode: .long64)
        try Self.runToHalt(vcpu)
        let dirty = try machine.vm.dirtyPages(slot: 0)
        let expected: Set<UInt64> = [0x200, 0x201, 0x203, 0x2FF]
        #expect(expected.isSubset(of: Set(dirty)), "dirty pages \(dirty.map { String($0, radix: 16) })")
        let extra = Set(dirty).subtracting(expected)
        #expect(extra.isSubset(of: Set(0...6)), "pages other than the CPU's tables: \(extra.sorted())")
        // FlatX86Setup presets A/D bits, so on this host nothing else is written at all.
        #expect(extra.isEmpty, "CPU-written pages despite preset A/D bits: \(extra.sorted())")
    }

    @Test func dirtyLogNeedsTheFlag() throws {
        let machine = try TestVM()
        #expect {
            _ = try machine.vm.dirtyPages(slot: 0)
        } throws: { error in
            guard case .invalidArgument(.getDirtyLog, _) = error as? KVMError else { return false }
            return true
        }
        // Turning logging on later works (setFlags), and the log starts empty.
        try machine.vm.setFlags(.logDirtyPages, slot: 0)
        #expect(try machine.vm.dirtyPages(slot: 0) == [])
    }
}
