// Fixed low-memory layout and CPU entry state for booting Linux. Separate from FlatX86Setup (the
// test guests' convention): Linux wants its own GDT selectors (__BOOT_CS 0x10 / __BOOT_DS 0x18,
// boot.rst "64-bit boot protocol") and page tables without the User bit, and nothing here may
// overlap FlatX86Layout (GDT 0x500, TSS 0x600-0x868, page tables 0x1000-0x6FFF, stack below
// 0x7F000), so both can coexist in one guest if a harness ever wants that.
import GuestMemory

/// Where the Linux loaders put things. Everything lies in [0x7000, 0x30000), inside the first
/// 640 KiB of RAM that the e820 map reports as usable; Linux reserves the first 1 MiB early in boot
/// (reserve_real_mode / the low 64 KiB trim) and copies boot_params and the command line before it
/// reuses any of it.
public enum LinuxLayout {
    /// boot_params (zero page), 4 KiB: the same address Firecracker uses.
    public static let bootParamsAddress = GuestAddress(0x7000)
    /// PVH hvm_start_info (56 bytes).
    public static let pvhStartInfoAddress = GuestAddress(0x8000)
    /// PVH hvm_modlist_entry array: one 32-byte entry, the initrd.
    public static let pvhModlistAddress = GuestAddress(0x8040)
    /// PVH hvm_memmap_table_entry array, 24 bytes each, up to `pvhMemmapMaxEntries` (ends 0x8D00).
    public static let pvhMemmapAddress = GuestAddress(0x8100)
    public static let pvhMemmapMaxEntries = 128
    /// GDT: null, null, 0x10 64-bit code, 0x18 data, 0x20-0x2F TSS, 0x30 32-bit code.
    public static let gdtAddress = GuestAddress(0x9000)
    public static let gdtEntryCount = 7
    public static let gdtLimit: UInt16 = UInt16(gdtEntryCount * 8 - 1)
    /// A zeroed 104-byte TSS: KVM (VMX) wants a usable TR on entry; Linux loads its own.
    public static let tssAddress = GuestAddress(0x9080)
    public static let tssLimit: UInt32 = 0x67
    /// Identity map of the first 4 GiB with 2 MiB pages: PML4, PDPT, 4 page directories.
    public static let pml4Address = GuestAddress(0xA000)
    public static let pdptAddress = GuestAddress(0xB000)
    public static let pageDirectoryAddress = GuestAddress(0xC000)
    public static let pageDirectoryCount = 4
    /// Initial rsp. Neither protocol needs a stack (both kernels set their own before the first
    /// call), but a valid one turns an early fault into a clean triple fault, not a wild write.
    public static let stackTop = GuestAddress(0x2_0000)
    /// The command line, NUL terminated; the space up to 0x30000 is reserved for it.
    public static let commandLineAddress = GuestAddress(0x2_0000)
    public static let commandLineCapacity = 0x1_0000
    /// Limit (without the NUL) when the image does not state one: x86 COMMAND_LINE_SIZE is 2048
    /// including the terminator, and both the PVH and the ELF entry copy at most that much.
    public static let commandLineLimitWithoutHeader = 2047
    /// Where the bzImage's protected-mode kernel goes (boot.rst: code32_start's default).
    public static let bzImageLoadAddress = GuestAddress(0x10_0000)
    /// RAM from 0 that the loader needs: the fixed structures plus the legacy low 1 MiB.
    public static let minimumLowRAM: UInt64 = 0x10_0000

    // Selectors.
    public static let bootCode64Selector: UInt16 = 0x10   // __BOOT_CS
    public static let bootDataSelector: UInt16 = 0x18     // __BOOT_DS
    public static let tssSelector: UInt16 = 0x20
    public static let bootCode32Selector: UInt16 = 0x30   // PVH: any flat 32-bit code selector

    /// The GDT words. Accessed bits are preset so that the CPU never writes to the table.
    public static let gdtEntries: [UInt64] = [
        0,
        0,
        0x00AF_9B00_0000_FFFF,   // 0x10 code, L=1, G=1, execute/read, accessed
        0x00CF_9300_0000_FFFF,   // 0x18 data, D/B=1, G=1, read/write, accessed
        0x0000_8B00_9080_0067,   // 0x20 TSS (busy), base 0x9080, limit 0x67
        0,                       //      base[63:32] = 0
        0x00CF_9B00_0000_FFFF,   // 0x30 code, D=1 (32-bit), G=1
    ]

    /// Page-table bits: present, writable, accessed (+ dirty and PS on 2 MiB leaves); no User bit,
    /// so kernel memory is never user-accessible even before Linux installs its own tables.
    public static let tableEntryFlags: UInt64 = 0x23
    public static let largePageFlags: UInt64 = 0xE3
}

public enum LinuxX86Setup {
    /// Writes the GDT, TSS and page tables (GDT/TSS are what PVH needs; the tables serve the
    /// 64-bit entry). Call after checking `LinuxLayout.minimumLowRAM` is RAM.
    public static func writeTables(into memory: GuestMemoryMap) throws(LinuxLoadError) {
        do {
            try memory.write(LinuxLayout.gdtEntries.flatMap(littleEndianBytes), at: LinuxLayout.gdtAddress)
            try memory.fill(0, count: UInt64(LinuxLayout.tssLimit) + 1, at: LinuxLayout.tssAddress)
            try memory.write(pageTableBytes(), at: LinuxLayout.pml4Address)
        } catch {
            throw .memory(error)
        }
    }

    /// The ranges `writeTables` fills, for diagnostics.
    public static var tableRanges: [LinuxWrite] {
        let pieces: [(String, GuestAddress, UInt64)] = [
            ("gdt", LinuxLayout.gdtAddress, UInt64(LinuxLayout.gdtLimit) + 1),
            ("tss", LinuxLayout.tssAddress, UInt64(LinuxLayout.tssLimit) + 1),
            ("page tables", LinuxLayout.pml4Address, UInt64(2 + LinuxLayout.pageDirectoryCount) * 0x1000),
        ]
        return pieces.compactMap { name, start, length in
            GuestRange(start: start, length: length).map { LinuxWrite(name: name, range: $0) }
        }
    }

    /// PVH entry (Xen's hvm start-of-day, as Linux's pvh.S expects): 32-bit protected mode, paging
    /// off, flat 4 GiB CS/DS/ES/SS, a busy TSS in TR, interrupts off, ebx = hvm_start_info.
    public static func pvhEntryState(entry: GuestAddress, startInfo: GuestAddress) -> X86EntryState {
        var state = X86EntryState(
            mode: .protected32, rip: entry.raw,
            cs: X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: LinuxLayout.bootCode32Selector,
                           type: 0xB, db: true, g: true),
            data: bootData, tr: taskRegister, gdt: gdtRegister,
            idt: X86TableRegister(base: GuestAddress(0), limit: 0))
        state.rsp = LinuxLayout.stackTop.raw
        state.rbx = startInfo.raw
        state.cr0 = FlatX86Setup.cr0PE | FlatX86Setup.cr0ET
        return state
    }

    /// 64-bit boot protocol entry (boot.rst): long mode, paging on with an identity map of the
    /// kernel, zero page and command line, CS = __BOOT_CS, DS/ES/SS = __BOOT_DS, interrupts off,
    /// rsi = boot_params.
    public static func long64EntryState(entry: GuestAddress, bootParams: GuestAddress) -> X86EntryState {
        var state = X86EntryState(
            mode: .long64, rip: entry.raw,
            cs: X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: LinuxLayout.bootCode64Selector,
                           type: 0xB, l: true, g: true),
            data: bootData, tr: taskRegister, gdt: gdtRegister,
            idt: X86TableRegister(base: GuestAddress(0), limit: 0))
        state.rsp = LinuxLayout.stackTop.raw
        state.rsi = bootParams.raw
        state.cr0 = FlatX86Setup.cr0PE | FlatX86Setup.cr0ET | FlatX86Setup.cr0NE | FlatX86Setup.cr0PG
        state.cr3 = LinuxLayout.pml4Address.raw
        state.cr4 = FlatX86Setup.cr4PAE
        state.efer = FlatX86Setup.eferLME | FlatX86Setup.eferLMA
        return state
    }

    static let bootData = X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: LinuxLayout.bootDataSelector,
                                     type: 0x3, db: true, g: true)
    static let taskRegister = X86Segment(base: LinuxLayout.tssAddress.raw, limit: LinuxLayout.tssLimit,
                                         selector: LinuxLayout.tssSelector, type: 0xB, s: false)
    static let gdtRegister = X86TableRegister(base: LinuxLayout.gdtAddress, limit: LinuxLayout.gdtLimit)

    /// PML4 (one entry), PDPT (four), four page directories of 2 MiB pages.
    static func pageTableBytes() -> [UInt8] {
        IdentityPageTables.bytes(pml4: LinuxLayout.pml4Address.raw, directories: LinuxLayout.pageDirectoryCount,
                                 tableFlags: LinuxLayout.tableEntryFlags, largePageFlags: LinuxLayout.largePageFlags)
    }
}
