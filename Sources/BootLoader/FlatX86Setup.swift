// Machine state for the simple test guests (guests/*.S): a GDT, a TSS and identity-mapped page
// tables in low memory, and the entry state of each CPU mode. This is not the Linux boot protocol.
//
// Test-guest convention: every page-table entry has the User bit set, so CPL3 test code can run
// and touch memory anywhere. The Accessed (and, on 2 MiB leaves, Dirty) bits are preset, and so is
// the Accessed bit of every GDT descriptor, so that the CPU never writes to these tables itself:
// the dirty-log test then sees only the pages the guest program wrote.
//
// CPL3 port I/O: the TSS carries an I/O permission bitmap that allows ports 0x000-0xFFF. Guests
// also set RFLAGS.IOPL = 3, but on the project's PVM host (kvm_pvm, no hardware virtualization)
// IOPL is not honoured at CPL3 (an `out` faults with IOPL 3); the bitmap is, so it is what makes
// `out` at CPL3 work there. With hardware virtualization either one suffices.
import GuestMemory

/// Where FlatX86Setup puts things, and the selectors of its GDT. Everything lies below 0x80000.
public enum FlatX86Layout {
    /// The GDT: 8 descriptors (the TSS descriptor takes two slots).
    public static let gdtAddress = GuestAddress(0x500)
    public static let gdtEntryCount = 8
    public static let gdtLimit: UInt16 = UInt16(gdtEntryCount * 8 - 1)
    /// The 64-bit TSS: RSP0, then at offset 0x68 an I/O permission bitmap of all-zero bits (allow)
    /// for ports 0x000-0xFFF, then the 0xFF byte the CPU requires after the bitmap. Ends at 0x869.
    public static let tssAddress = GuestAddress(0x600)
    public static let tssIOBitmapOffset: UInt16 = 0x68
    /// Ports [0, tssIOBitmapPorts) are allowed at CPL3 by the bitmap; higher ones fault (#GP).
    public static let tssIOBitmapPorts = 0x1000
    public static let tssLimit: UInt32 = UInt32(tssIOBitmapOffset) + UInt32(tssIOBitmapPorts / 8)   // 0x268
    /// Identity map of the first 4 GiB with 2 MiB pages: PML4, PDPT, then 4 page directories.
    public static let pml4Address = GuestAddress(0x1000)
    public static let pdptAddress = GuestAddress(0x2000)
    public static let pageDirectoryAddress = GuestAddress(0x3000)
    public static let pageDirectoryCount = 4
    /// Initial RSP of every mode, and the TSS's RSP0 (the CPL0 stack on a switch from CPL3).
    public static let stackTop = GuestAddress(0x7F000)
    /// The usual load addresses of the test guests.
    public static let realModeLoadAddress = GuestAddress(0x8000)
    public static let imageLoadAddress = GuestAddress(0x10_0000)
    /// RAM that must exist at address 0 for the tables and the real-mode area.
    public static let minimumRAM: UInt64 = 0x10_0000

    // Selectors. User selectors carry RPL 3.
    public static let kernelCode64Selector: UInt16 = 0x08
    public static let kernelDataSelector: UInt16 = 0x10
    public static let kernelCode32Selector: UInt16 = 0x18
    public static let userDataSelector: UInt16 = 0x23
    public static let userCode64Selector: UInt16 = 0x2B
    public static let tssSelector: UInt16 = 0x30

    /// The GDT as 64-bit words, slot by slot (0x00 … 0x38).
    public static let gdtEntries: [UInt64] = [
        0,                       // 0x00 null
        0x00AF_9B00_0000_FFFF,   // 0x08 code, DPL0, L=1, G=1, type 0xB (execute/read, accessed)
        0x00CF_9300_0000_FFFF,   // 0x10 data, DPL0, D/B=1, G=1, type 0x3 (read/write, accessed)
        0x00CF_9B00_0000_FFFF,   // 0x18 code, DPL0, D=1 (32-bit), G=1
        0x00CF_F300_0000_FFFF,   // 0x20 data, DPL3 (selector 0x23)
        0x00AF_FB00_0000_FFFF,   // 0x28 code, DPL3, L=1 (selector 0x2B)
        // 0x30 64-bit TSS, type 0xB (busy: TR is loaded with it), base 0x600, limit 0x268; the
        // second slot holds base[63:32] = 0.
        0x0000_8B00_0600_0268,
        0,
    ]

    /// Page-table entry bits.
    public static let present: UInt64 = 1 << 0
    public static let writable: UInt64 = 1 << 1
    public static let user: UInt64 = 1 << 2
    public static let accessed: UInt64 = 1 << 5
    public static let dirty: UInt64 = 1 << 6
    public static let largePage: UInt64 = 1 << 7
    /// Flags of PML4 and PDPT entries, and of the 2 MiB page-directory entries.
    public static let tableEntryFlags: UInt64 = present | writable | user | accessed
    public static let largePageFlags: UInt64 = present | writable | user | accessed | dirty | largePage
}

public enum FlatX86SetupError: Error, Equatable, Sendable {
    /// Guest RAM does not cover [0, FlatX86Layout.minimumRAM).
    case notEnoughLowMemory(required: UInt64)
    /// Real mode needs an entry below 1 MiB, aligned to 16 bytes (it becomes CS = address >> 4).
    case invalidRealModeEntry(GuestAddress)
    /// Protected mode without paging reaches only the first 4 GiB.
    case entryAbove4GiB(GuestAddress)
    case memory(GuestMemoryError)
}

public enum FlatX86Setup {
    public static let cr0PE: UInt64 = 1 << 0
    public static let cr0MP: UInt64 = 1 << 1
    public static let cr0ET: UInt64 = 1 << 4
    public static let cr0NE: UInt64 = 1 << 5
    public static let cr0WP: UInt64 = 1 << 16
    public static let cr0PG: UInt64 = 1 << 31
    public static let cr4PAE: UInt64 = 1 << 5
    public static let cr4OSFXSR: UInt64 = 1 << 9
    public static let cr4OSXMMEXCPT: UInt64 = 1 << 10
    public static let eferSCE: UInt64 = 1 << 0
    public static let eferLME: UInt64 = 1 << 8
    public static let eferLMA: UInt64 = 1 << 10
    /// RFLAGS with IOPL = 3 (and the always-one bit 1), for CPL3 guests that do port I/O.
    public static let rflagsIOPL3: UInt64 = 0x3002

    /// Writes the GDT, TSS and page tables, then returns the entry state for `mode` at `entry`.
    public static func prepare(_ memory: GuestMemoryMap, mode: X86EntryState.Mode,
                               entry: GuestAddress) throws(FlatX86SetupError) -> X86EntryState {
        let state = try entryState(mode: mode, entry: entry)   // validate before writing anything
        try writeTables(into: memory)
        return state
    }

    /// Writes the GDT at 0x500, the TSS at 0x600 and the page tables at 0x1000..0x6FFF.
    public static func writeTables(into memory: GuestMemoryMap) throws(FlatX86SetupError) {
        guard let low = GuestRange(start: GuestAddress(0), length: FlatX86Layout.minimumRAM),
              memory.isValid(low) else {
            throw .notEnoughLowMemory(required: FlatX86Layout.minimumRAM)
        }
        do {
            try memory.write(gdtBytes(), at: FlatX86Layout.gdtAddress)
            try memory.write(tssBytes(), at: FlatX86Layout.tssAddress)
            try memory.write(pageTableBytes(), at: FlatX86Layout.pml4Address)
        } catch {
            throw .memory(error)
        }
    }

    /// The entry state alone (no memory access). For `.real`, `entry` must be below 1 MiB and
    /// 16-aligned: CS = entry >> 4, IP = 0.
    public static func entryState(mode: X86EntryState.Mode, entry: GuestAddress) throws(FlatX86SetupError) -> X86EntryState {
        switch mode {
        case .real: return try realMode(entry: entry)
        case .protected32: return try protected32(entry: entry)
        case .long64: return long64(entry: entry)
        }
    }

    /// Long mode entered directly at CPL3 (CS 0x2B, SS/DS 0x23, IOPL 3): for hosts that want to skip
    /// the guest's own iretq. The CPL3 guests detect this (CS & 3) and go straight to their user part.
    public static func long64User(entry: GuestAddress) -> X86EntryState {
        var state = long64(entry: entry)
        state.cs = X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: FlatX86Layout.userCode64Selector,
                              type: 0xB, dpl: 3, l: true, g: true)
        let data = X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: FlatX86Layout.userDataSelector,
                              type: 0x3, dpl: 3, db: true, g: true)
        state.ds = data; state.es = data; state.fs = data; state.gs = data; state.ss = data
        state.rflags = rflagsIOPL3
        return state
    }

    static func realMode(entry: GuestAddress) throws(FlatX86SetupError) -> X86EntryState {
        guard entry.raw < 0x10_0000, entry.isAligned(to: 16) else { throw .invalidRealModeEntry(entry) }
        let segment = UInt16(entry.raw >> 4)   // < 0x10000: checked above
        var state = X86EntryState(
            mode: .real, rip: 0,
            cs: .real(selector: segment, code: true),
            data: .real(selector: segment, code: false),
            // KVM wants a present busy TSS in TR even in real mode (the reset state).
            tr: X86Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB, s: false),
            gdt: X86TableRegister(base: FlatX86Layout.gdtAddress, limit: FlatX86Layout.gdtLimit),
            idt: X86TableRegister(base: GuestAddress(0), limit: 0x3FF))   // the real-mode IVT
        // SS:SP = 0x7000:0xF000 is linear 0x7F000, the same stack top as the other modes.
        state.ss = .real(selector: UInt16(FlatX86Layout.stackTop.raw >> 4) & 0xF000, code: false)
        state.rsp = FlatX86Layout.stackTop.raw & 0xFFFF
        state.cr0 = cr0ET   // caches enabled (the reset value 0x60000010 has CD|NW)
        return state
    }

    static func protected32(entry: GuestAddress) throws(FlatX86SetupError) -> X86EntryState {
        guard entry.raw <= UInt64(UInt32.max) else { throw .entryAbove4GiB(entry) }
        var state = X86EntryState(
            mode: .protected32, rip: entry.raw,
            cs: X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: FlatX86Layout.kernelCode32Selector,
                           type: 0xB, db: true, g: true),
            data: kernelData,
            tr: taskRegister,
            gdt: X86TableRegister(base: FlatX86Layout.gdtAddress, limit: FlatX86Layout.gdtLimit),
            // Limit 0: any exception becomes a triple fault (a clean KVM shutdown exit), not a jump
            // through whatever bytes sit at address 0.
            idt: X86TableRegister(base: GuestAddress(0), limit: 0))
        state.rsp = FlatX86Layout.stackTop.raw
        state.cr0 = cr0PE | cr0ET
        return state
    }

    static func long64(entry: GuestAddress) -> X86EntryState {
        var state = X86EntryState(
            mode: .long64, rip: entry.raw,
            cs: X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: FlatX86Layout.kernelCode64Selector,
                           type: 0xB, l: true, g: true),
            data: kernelData,
            tr: taskRegister,
            gdt: X86TableRegister(base: FlatX86Layout.gdtAddress, limit: FlatX86Layout.gdtLimit),
            idt: X86TableRegister(base: GuestAddress(0), limit: 0))
        state.rsp = FlatX86Layout.stackTop.raw
        state.cr0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0PG
        state.cr3 = FlatX86Layout.pml4Address.raw
        state.cr4 = cr4PAE | cr4OSFXSR | cr4OSXMMEXCPT
        state.efer = eferSCE | eferLME | eferLMA
        return state
    }

    static let kernelData = X86Segment(base: 0, limit: 0xFFFF_FFFF, selector: FlatX86Layout.kernelDataSelector,
                                       type: 0x3, db: true, g: true)
    /// Busy TSS (type 0xB), as after `ltr`.
    static let taskRegister = X86Segment(base: FlatX86Layout.tssAddress.raw, limit: FlatX86Layout.tssLimit,
                                         selector: FlatX86Layout.tssSelector, type: 0xB, s: false)

    static func gdtBytes() -> [UInt8] {
        FlatX86Layout.gdtEntries.flatMap(littleEndianBytes)
    }

    static func tssBytes() -> [UInt8] {
        var tss = [UInt8](repeating: 0, count: Int(FlatX86Layout.tssLimit) + 1)
        tss.replaceSubrange(4..<12, with: littleEndianBytes(FlatX86Layout.stackTop.raw))   // RSP0
        let bitmap = FlatX86Layout.tssIOBitmapOffset
        tss.replaceSubrange(0x66..<0x68, with: [UInt8(bitmap & 0xFF), UInt8(bitmap >> 8)])
        // The bitmap bytes stay 0 (port allowed); the byte after the last one must be 0xFF.
        tss[tss.count - 1] = 0xFF
        return tss
    }

    /// PML4 (one entry), PDPT (four entries), four page directories of 2 MiB pages: 0x6000 bytes
    /// from 0x1000, everything else in those pages zero.
    static func pageTableBytes() -> [UInt8] {
        IdentityPageTables.bytes(pml4: FlatX86Layout.pml4Address.raw, directories: FlatX86Layout.pageDirectoryCount,
                                 tableFlags: FlatX86Layout.tableEntryFlags, largePageFlags: FlatX86Layout.largePageFlags)
    }
}
