// Multiboot (version 1, "Multiboot Specification 0.6.96") kernels, loaded the way QEMU's -kernel
// and GRUB's `multiboot` command load them: the image carries a header (magic 0x1BADB002, flags,
// checksum) in its first 8 KiB; the kernel is an ELF loaded by its program headers, or any image
// whose header gives the load addresses itself (flag bit 16, the "a.out kludge"). It is entered in
// flat 32-bit protected mode with paging off, eax = 0x2BADB002 and ebx = the multiboot info.
// Everything is validated before guest memory is written; a hostile image gets a named error.
import GuestMemory

public enum MultibootError: Error, Equatable, Sendable {
    /// No 4-byte-aligned magic 0x1BADB002 with its 12-byte header inside the first 8192 bytes.
    case noHeader
    /// magic + flags + checksum is not 0 (mod 2^32) for the header at `offset`.
    case badChecksum(offset: Int, flags: UInt32, checksum: UInt32)
    /// Flag bits 2...15 ask for something we do not provide (bit 2: a video mode); the spec says a
    /// loader that cannot honour a bit in 0...15 must refuse the kernel.
    case unsupportedRequiredFlags(UInt32)
    /// The image is neither ELF nor has the address fields (flag bit 16).
    case notELFWithoutAddressFields
    /// The header, or its address fields (flag bit 16), run past the 8 KiB window or the file.
    case truncatedHeader(field: String)
    /// header_addr < load_addr: the header would lie before the loaded text.
    case headerAddrBelowLoadAddr(headerAddr: UInt32, loadAddr: UInt32)
    /// header_addr - load_addr is more than the header's file offset: loading would start before the file.
    case loadAddrBeforeFileStart(loadAddr: UInt32, headerAddr: UInt32, headerOffset: Int)
    /// load_end_addr (non-zero) must be above load_addr and above the header.
    case loadEndAddrNotAfterHeader(loadEndAddr: UInt32, headerAddr: UInt32)
    /// load_end_addr - load_addr is more than the file holds from the load offset.
    case loadEndAddrPastFile(loadEndAddr: UInt32, fileBytes: UInt64)
    /// bss_end_addr (non-zero) below load_end_addr.
    case bssEndAddrBelowLoadEnd(bssEndAddr: UInt32, loadEndAddr: UInt32)
    /// entry_addr outside [load_addr, max(load_end, bss_end)).
    case entryAddrOutsideImage(entryAddr: UInt32)
    /// Nothing to load. Defensive: the checks above already imply at least the header is loaded.
    case emptyImage
    /// An ELF segment or entry at or above 4 GiB: unreachable from the 32-bit, paging-off entry.
    case addressAbove4GiB(UInt64)
}

/// The parsed header (offsets per the spec's "3.1.1 The layout of Multiboot header").
public struct MultibootHeader: Equatable, Sendable {
    /// File offset of the magic.
    public let offset: Int
    public let flags: UInt32
    /// Present when flag bit 16 is set.
    public let addresses: Addresses?

    public struct Addresses: Equatable, Sendable {
        public let headerAddr: UInt32
        public let loadAddr: UInt32
        public let loadEndAddr: UInt32
        public let bssEndAddr: UInt32
        public let entryAddr: UInt32
    }
}

/// Where the multiboot info and what it points to live: [0x30000, 0x32000), just above
/// LinuxLayout's command line buffer (0x20000-0x2FFFF), below FlatX86Layout's stack (0x7F000),
/// the MP table (0x9FC00) and the ACPI tables (0xE0000). The command line itself stays at
/// LinuxLayout.commandLineAddress, written by the common Linux path.
public enum MultibootLayout {
    public static let infoAddress = GuestAddress(0x3_0000)
    /// One struct multiboot_info: 116 bytes up to the framebuffer fields (we fill none of those).
    public static let infoSize = 116
    /// The memory map: 24 bytes per entry (size u32 = 20, base u64, length u64, type u32).
    public static let mmapAddress = GuestAddress(0x3_0100)
    public static let mmapEntrySize = 24
    public static let mmapMaxEntries = 128   // ends at 0x30D00
    /// struct multiboot_mod_list: one 16-byte entry, the initrd.
    public static let modulesAddress = GuestAddress(0x3_1000)
    public static let moduleEntrySize = 16
    /// The module's string, and the boot loader's name.
    public static let moduleStringAddress = GuestAddress(0x3_1100)
    public static let moduleString = "initrd"
    public static let loaderNameAddress = GuestAddress(0x3_1200)
    public static let loaderName = "swift-vmm"
}

public enum Multiboot {
    public static let headerMagic: UInt32 = 0x1BAD_B002
    /// In eax at entry: tells the kernel a multiboot loader started it.
    public static let bootloaderMagic: UInt32 = 0x2BAD_B002
    /// The header must lie completely in this many leading bytes.
    public static let searchLimit = 8192

    // Header flags.
    public static let pageAlignModules: UInt32 = 1 << 0
    public static let memoryInfo: UInt32 = 1 << 1
    public static let videoMode: UInt32 = 1 << 2
    public static let addressFields: UInt32 = 1 << 16
    /// Required bits we honour: 0 (our modules are page aligned anyway) and 1 (always provided).
    static let supportedRequired: UInt32 = pageAlignModules | memoryInfo

    // multiboot_info flags and field offsets.
    public static let infoMem: UInt32 = 1 << 0
    public static let infoCmdline: UInt32 = 1 << 2
    public static let infoMods: UInt32 = 1 << 3
    public static let infoMmap: UInt32 = 1 << 6
    public static let infoLoaderName: UInt32 = 1 << 9
    public static let flagsOffset = 0, memLowerOffset = 4, memUpperOffset = 8, bootDeviceOffset = 12
    public static let cmdlineOffset = 16, modsCountOffset = 20, modsAddrOffset = 24
    public static let mmapLengthOffset = 44, mmapAddrOffset = 48, loaderNameOffset = 64

    /// The offset of the first 4-byte-aligned magic whose 12-byte header lies inside the first
    /// 8 KiB (and the file), whatever its checksum; nil when there is none.
    public static func magicOffset(_ bytes: [UInt8]) -> Int? {
        let end = min(bytes.count, searchLimit)
        var offset = 0
        while offset + 12 <= end {
            if u32(bytes, offset) == headerMagic { return offset }
            offset += 4
        }
        return nil
    }

    /// The first aligned header with a valid checksum (as GRUB searches: a magic with a bad checksum
    /// is skipped); `.badChecksum` for the first magic when none is valid.
    public static func findHeader(_ bytes: [UInt8]) throws(MultibootError) -> MultibootHeader {
        guard let first = magicOffset(bytes) else { throw .noHeader }
        let end = min(bytes.count, searchLimit)
        var offset = first
        while offset + 12 <= end {
            if u32(bytes, offset) == headerMagic,
               u32(bytes, offset) &+ u32(bytes, offset + 4) &+ u32(bytes, offset + 8) == 0 {
                return try header(bytes, at: offset)
            }
            offset += 4
        }
        throw .badChecksum(offset: first, flags: u32(bytes, first + 4), checksum: u32(bytes, first + 8))
    }

    /// Reads flags and, with bit 16, the five address fields, which must also lie in the window.
    static func header(_ bytes: [UInt8], at offset: Int) throws(MultibootError) -> MultibootHeader {
        let flags = u32(bytes, offset + 4)
        let unsupported = flags & 0xFFFF & ~supportedRequired
        guard unsupported == 0 else { throw .unsupportedRequiredFlags(unsupported) }
        guard flags & addressFields != 0 else { return MultibootHeader(offset: offset, flags: flags, addresses: nil) }
        let names = ["header_addr", "load_addr", "load_end_addr", "bss_end_addr", "entry_addr"]
        var values: [UInt32] = []
        let end = min(bytes.count, searchLimit)
        for (i, name) in names.enumerated() {
            let at = offset + 12 + 4 * i
            guard at + 4 <= end else { throw .truncatedHeader(field: name) }
            values.append(u32(bytes, at))
        }
        return MultibootHeader(offset: offset, flags: flags, addresses: .init(
            headerAddr: values[0], loadAddr: values[1], loadEndAddr: values[2], bssEndAddr: values[3], entryAddr: values[4]))
    }

    /// An image laid out by the address fields: which file bytes go where, what is zeroed, the entry.
    public struct AddressLayout: Equatable, Sendable {
        public let fileOffset: Int
        /// [load_addr, load_end_addr): copied from the file at `fileOffset`.
        public let load: GuestRange
        /// [load_end_addr, bss_end_addr): zeroed; nil when bss_end_addr is 0 or equals load_end.
        public let bss: GuestRange?
        public let entry: GuestAddress
    }

    /// Validates the a.out-kludge fields against the file (spec 3.1.3): the header at file offset
    /// `header.offset` sits at header_addr, so loading starts at file offset
    /// offset - (header_addr - load_addr). All arithmetic is in 64 bits: nothing can wrap.
    public static func addressLayout(_ header: MultibootHeader, fileSize: Int) throws(MultibootError) -> AddressLayout {
        guard let a = header.addresses else { throw .notELFWithoutAddressFields }
        // findHeader proved this for its own file; checked again in case `fileSize` is another file's.
        guard header.offset >= 0, header.offset + 12 <= fileSize else { throw .truncatedHeader(field: "magic") }
        guard a.headerAddr >= a.loadAddr else { throw .headerAddrBelowLoadAddr(headerAddr: a.headerAddr, loadAddr: a.loadAddr) }
        let lead = UInt64(a.headerAddr - a.loadAddr)
        guard lead <= UInt64(header.offset) else {
            throw .loadAddrBeforeFileStart(loadAddr: a.loadAddr, headerAddr: a.headerAddr, headerOffset: header.offset)
        }
        let fileOffset = UInt64(header.offset) - lead
        let available = UInt64(fileSize) - fileOffset   // header.offset < fileSize: no underflow
        let loadSize: UInt64
        if a.loadEndAddr == 0 {
            loadSize = available   // "the text and data segments occupy the whole OS image file"
        } else {
            // The header itself is part of the loaded text.
            guard a.loadEndAddr > a.headerAddr else {
                throw .loadEndAddrNotAfterHeader(loadEndAddr: a.loadEndAddr, headerAddr: a.headerAddr)
            }
            loadSize = UInt64(a.loadEndAddr - a.loadAddr)
            guard loadSize <= available else { throw .loadEndAddrPastFile(loadEndAddr: a.loadEndAddr, fileBytes: available) }
        }
        let loadEnd = UInt64(a.loadAddr) + loadSize
        guard loadEnd <= 1 << 32 else { throw .addressAbove4GiB(loadEnd) }
        guard let load = GuestRange(start: GuestAddress(UInt64(a.loadAddr)), length: loadSize) else { throw .emptyImage }
        var bss: GuestRange?
        var imageEnd = loadEnd
        if a.bssEndAddr != 0 {
            guard UInt64(a.bssEndAddr) >= loadEnd else {
                throw .bssEndAddrBelowLoadEnd(bssEndAddr: a.bssEndAddr, loadEndAddr: UInt32(truncatingIfNeeded: loadEnd))
            }
            bss = GuestRange(start: GuestAddress(loadEnd), length: UInt64(a.bssEndAddr) - loadEnd)
            imageEnd = UInt64(a.bssEndAddr)
        }
        guard a.entryAddr >= a.loadAddr, UInt64(a.entryAddr) < imageEnd else { throw .entryAddrOutsideImage(entryAddr: a.entryAddr) }
        return AddressLayout(fileOffset: Int(fileOffset), load: load, bss: bss, entry: GuestAddress(UInt64(a.entryAddr)))
    }

    private static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        // Callers check offset + 4 <= bytes.count.
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

/// What goes into the multiboot info and the structures it points to.
public struct MultibootInfo: Equatable, Sendable {
    public var commandLine: GuestAddress
    public var initrd: GuestRange?
    public var memoryMap: E820Map

    public init(commandLine: GuestAddress, initrd: GuestRange?, memoryMap: E820Map) {
        self.commandLine = commandLine; self.initrd = initrd; self.memoryMap = memoryMap
    }

    /// KiB of RAM from 0 (at most 640) and from 1 MiB up to the first hole, from the e820 map:
    /// what a BIOS reports through INT 12h and INT 15h/E801.
    public var memLowerKiB: UInt32 {
        guard let low = memoryMap.entries.first(where: { $0.type == .ram && $0.range.start.raw == 0 }) else { return 0 }
        return UInt32(min(low.range.length / 1024, 640))
    }
    public var memUpperKiB: UInt32 {
        guard let high = memoryMap.entries.first(where: { $0.type == .ram && $0.range.start == E820Map.highRAMStart }) else {
            return 0
        }
        return UInt32(clamping: high.range.length / 1024)
    }

    public func infoBytes() -> [UInt8] {
        var out = LittleEndianBytes(count: MultibootLayout.infoSize)
        // MODS is set even without an initrd (mods_count 0), as QEMU does.
        let flags = Multiboot.infoMem | Multiboot.infoCmdline | Multiboot.infoMods | Multiboot.infoMmap | Multiboot.infoLoaderName
        out.put(flags, at: Multiboot.flagsOffset)
        out.put(memLowerKiB, at: Multiboot.memLowerOffset)
        out.put(memUpperKiB, at: Multiboot.memUpperOffset)
        out.put(UInt32(truncatingIfNeeded: commandLine.raw), at: Multiboot.cmdlineOffset)
        out.put(UInt32(initrd == nil ? 0 : 1), at: Multiboot.modsCountOffset)
        out.put(UInt32(truncatingIfNeeded: MultibootLayout.modulesAddress.raw), at: Multiboot.modsAddrOffset)
        out.put(UInt32(memoryMap.entries.count * MultibootLayout.mmapEntrySize), at: Multiboot.mmapLengthOffset)
        out.put(UInt32(truncatingIfNeeded: MultibootLayout.mmapAddress.raw), at: Multiboot.mmapAddrOffset)
        out.put(UInt32(truncatingIfNeeded: MultibootLayout.loaderNameAddress.raw), at: Multiboot.loaderNameOffset)
        return out.bytes
    }

    /// Entries of 24 bytes; `size` (20) counts the bytes after itself, which is how kernels step.
    public func mmapBytes() -> [UInt8] {
        let size = MultibootLayout.mmapEntrySize
        var out = LittleEndianBytes(count: memoryMap.entries.count * size)
        for (i, entry) in memoryMap.entries.enumerated() {
            out.put(UInt32(size - 4), at: i * size)
            out.put(entry.range.start.raw, at: i * size + 4)
            out.put(entry.range.length, at: i * size + 12)
            out.put(entry.type.rawValue, at: i * size + 20)
        }
        return out.bytes
    }

    /// mod_start, mod_end (one past the last byte, as GRUB and QEMU write it), string, reserved.
    /// The loader places the initrd below 4 GiB, so the truncations never lose bits.
    public func modulesBytes() -> [UInt8] {
        guard let initrd else { return [] }
        var out = LittleEndianBytes(count: MultibootLayout.moduleEntrySize)
        out.put(UInt32(truncatingIfNeeded: initrd.start.raw), at: 0)
        out.put(UInt32(truncatingIfNeeded: initrd.start.raw &+ initrd.length), at: 4)
        out.put(UInt32(truncatingIfNeeded: MultibootLayout.moduleStringAddress.raw), at: 8)
        return out.bytes
    }

    public func write(to memory: GuestMemoryMap) throws(LinuxLoadError) -> [LinuxWrite] {
        guard memoryMap.entries.count <= MultibootLayout.mmapMaxEntries else {
            throw .tooManyE820Entries(count: memoryMap.entries.count, limit: MultibootLayout.mmapMaxEntries)
        }
        let pieces: [(String, [UInt8], GuestAddress)] = [
            ("multiboot_info", infoBytes(), MultibootLayout.infoAddress),
            ("multiboot mmap", mmapBytes(), MultibootLayout.mmapAddress),
            ("multiboot modules", modulesBytes(), MultibootLayout.modulesAddress),
            ("multiboot module string", Array(MultibootLayout.moduleString.utf8) + [0], MultibootLayout.moduleStringAddress),
            ("boot loader name", Array(MultibootLayout.loaderName.utf8) + [0], MultibootLayout.loaderNameAddress),
        ]
        var written: [LinuxWrite] = []
        for (name, bytes, at) in pieces where !bytes.isEmpty {
            do { try memory.write(bytes, at: at) } catch { throw .memory(error) }
            if let range = GuestRange(start: at, length: UInt64(bytes.count)) { written.append(LinuxWrite(name: name, range: range)) }
        }
        return written
    }
}

extension LinuxLoader {
    /// Loads a multiboot kernel (ELF by its program headers, or by the header's address fields when
    /// flag bit 16 is set, as GRUB and QEMU do even for ELF files), the initrd as its one module,
    /// the command line, and the multiboot info; returns the 32-bit entry state.
    static func loadMultiboot(_ kernel: [UInt8], header: MultibootHeader, initrd: [UInt8]?, cmdline: String,
                              memory: GuestMemoryMap, e820: E820Map) throws(LinuxLoadError) -> LinuxBootResult {
        // Validate the image and where it goes before anything is written.
        let kernelRanges: [GuestRange]
        let entry: GuestAddress
        let layout: Multiboot.AddressLayout?
        if header.addresses != nil {
            let l: Multiboot.AddressLayout
            do { l = try Multiboot.addressLayout(header, fileSize: kernel.count) } catch { throw .multiboot(error) }
            layout = l
            kernelRanges = [l.load] + (l.bss.map { [$0] } ?? [])
            entry = l.entry
        } else {
            guard kernel.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else { throw .multiboot(.notELFWithoutAddressFields) }
            let image: ELFImage
            do { image = try ELFLoader.parse(kernel) } catch { throw .elf(error) }
            layout = nil
            kernelRanges = image.segments.map(\.physicalRange)
            entry = image.physicalEntry
            // Entered with paging off: every byte and the entry must be 32-bit addressable.
            for range in kernelRanges where range.last.raw > UInt64(UInt32.max) { throw .multiboot(.addressAbove4GiB(range.last.raw)) }
            guard entry.raw <= UInt64(UInt32.max) else { throw .multiboot(.addressAbove4GiB(entry.raw)) }
        }
        for range in kernelRanges {
            guard memory.isValid(range) else { throw .kernelDoesNotFit(start: range.start, size: range.length) }
            // The boot structures live below 1 MiB; a kernel there would be overwritten.
            guard range.start >= E820Map.highRAMStart else { throw .kernelOverlapsLowMemory(range) }
        }
        let commandLine = try commandLineBytes(cmdline, limit: LinuxLayout.commandLineCapacity - 1)
        let cmdRange = try commandLineRange(commandLine)
        // mod_start / mod_end are 32-bit: the module must end below 4 GiB.
        let initrdRange = try initrd.map { (bytes) throws(LinuxLoadError) in
            try placeInitrd(size: UInt64(bytes.count), memory: memory, maxAddress: UInt64(UInt32.max), avoiding: kernelRanges)
        }

        // Validation done: write.
        var written: [LinuxWrite]
        if let layout {
            do {
                try memory.write(Array(kernel[layout.fileOffset..<(layout.fileOffset + Int(layout.load.length))]),
                                 at: layout.load.start)
                if let bss = layout.bss { try memory.fill(0, count: bss.length, at: bss.start) }
            } catch { throw .memory(error) }
            written = kernelRanges.map { LinuxWrite(name: "kernel", range: $0) }
        } else {
            let loaded: LoadedELF
            do { loaded = try ELFLoader.load(kernel, into: memory) } catch { throw .elf(error) }
            written = loaded.segments.map { LinuxWrite(name: "kernel", range: $0) }
        }
        written += try writeCommon(commandLine: commandLine, initrd: initrd, at: initrdRange, memory: memory)
        let info = MultibootInfo(commandLine: LinuxLayout.commandLineAddress, initrd: initrdRange, memoryMap: e820)
        written += try info.write(to: memory)

        // Multiboot's machine state (spec 3.2) is PVH's plus eax: flat 32-bit segments, paging off.
        var state = LinuxX86Setup.pvhEntryState(entry: entry, startInfo: MultibootLayout.infoAddress)
        state.rax = UInt64(Multiboot.bootloaderMagic)
        return LinuxBootResult(bootProtocol: .multiboot, entryState: state, kernel: kernelRanges, initrd: initrdRange,
                               commandLine: cmdRange, e820: e820, written: written)
    }
}
