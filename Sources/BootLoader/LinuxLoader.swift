// Direct Linux boot: one call that loads a kernel (ELF vmlinux or bzImage), an optional initrd and
// a command line, writes the boot structures and returns the vCPU entry state. Protocol choice, in
// order: an ELF with a PVH note boots through PVH (32-bit entry, hvm_start_info in ebx); an ELF
// with a multiboot header through multiboot v1 (32-bit entry, multiboot info in ebx; see
// MultibootLoader.swift); another 64-bit ELF through the 64-bit boot protocol (boot_params in
// rsi, header fields synthesized); a bzImage through the 64-bit boot protocol at load + 0x200 with
// its own setup header; any other image with a multiboot header through its address fields.
// Everything is validated before guest memory is written, except that a failure after the kernel
// copy (e.g. memory access errors that validation rules out) may leave a partial image.
import GuestMemory

public enum LinuxLoadError: Error, Equatable, Sendable {
    /// Neither an ELF nor a bzImage (no ELF magic, no 0xAA55/"HdrS").
    case unrecognizedKernel
    case elf(ImageLoadError)
    case bzImage(BzImageError)
    case multiboot(MultibootError)
    /// Only 64-bit ELF kernels can use the 64-bit boot protocol (a 32-bit ELF needs a PVH note).
    case elfNotBootable(reason: String)
    /// XEN_ELFNOTE_PHYS32_ENTRY's descriptor must be 4 or 8 bytes.
    case pvhEntryNoteBadSize(Int)
    case pvhEntryAbove4GiB(UInt64)
    /// Guest RAM does not cover [0, required): the fixed boot structures live there.
    case notEnoughLowMemory(required: UInt64)
    /// An ELF segment, or a bzImage's runtime area, below 1 MiB where the boot structures live.
    case kernelOverlapsLowMemory(GuestRange)
    /// The kernel's load range (or its init_size area) is not all RAM.
    case kernelDoesNotFit(start: GuestAddress, size: UInt64)
    /// The command line is `length` bytes; the kernel accepts at most `limit` (without the NUL),
    /// from the bzImage's cmdline_size or x86 COMMAND_LINE_SIZE - 1 for ELF kernels.
    case commandLineTooLong(length: Int, limit: Int)
    /// An embedded NUL would silently cut the command line short.
    case commandLineContainsNUL
    case emptyInitrd
    /// No page-aligned place below `ceiling` and above 1 MiB avoids the kernel.
    case initrdDoesNotFit(size: UInt64, ceiling: GuestAddress)
    case tooManyE820Entries(count: Int, limit: Int)
    case memory(GuestMemoryError)
}

public enum LinuxBootProtocol: String, Sendable {
    case pvh
    /// 64-bit boot protocol entered at an ELF vmlinux's e_entry.
    case elf64
    /// 64-bit boot protocol entered at a bzImage's load address + 0x200.
    case bzImage64
    /// Multiboot v1: 32-bit entry, eax = 0x2BADB002, ebx = multiboot info.
    case multiboot
}

/// One structure the loader wrote, for diagnostics.
public struct LinuxWrite: Equatable, Sendable {
    public let name: String
    public let range: GuestRange
    public init(name: String, range: GuestRange) { self.name = name; self.range = range }
}

public struct LinuxBootOptions: Equatable, Sendable {
    /// Physical address of the ACPI RSDP, if the VMM builds ACPI tables (PVH rsdp_paddr,
    /// boot_params acpi_rsdp_addr). nil: the kernel scans the BIOS areas itself.
    public var rsdp: GuestAddress?
    /// Extra e820 entries (ACPI tables as `.acpi`, device windows as `.reserved`), carved out of RAM.
    public var reservedRanges: [E820Entry] = []
    /// false: ignore a PVH note and use the 64-bit boot protocol for an ELF vmlinux.
    public var allowPVH = true
    public init(rsdp: GuestAddress? = nil, reservedRanges: [E820Entry] = [], allowPVH: Bool = true) {
        self.rsdp = rsdp; self.reservedRanges = reservedRanges; self.allowPVH = allowPVH
    }
}

public struct LinuxBootResult: Equatable, Sendable {
    public let bootProtocol: LinuxBootProtocol
    /// Complete: segments, control registers, rip and rbx (PVH), rsi (64-bit protocol) or rax and
    /// rbx (multiboot).
    public let entryState: X86EntryState
    /// Guest-physical ranges the kernel occupies (ELF segments, or the bzImage's footprint).
    public let kernel: [GuestRange]
    public let initrd: GuestRange?
    public let commandLine: GuestRange
    public let e820: E820Map
    /// Everything written, kernel and initrd included.
    public let written: [LinuxWrite]
}

public enum LinuxLoader {
    public static func load(kernel: [UInt8], initrd: [UInt8]?, cmdline: String, memory: GuestMemoryMap,
                            options: LinuxBootOptions = LinuxBootOptions()) throws(LinuxLoadError) -> LinuxBootResult {
        guard let low = GuestRange(start: GuestAddress(0), length: LinuxLayout.minimumLowRAM), memory.isValid(low) else {
            throw .notEnoughLowMemory(required: LinuxLayout.minimumLowRAM)
        }
        var e820 = E820Map(memory: memory)
        for entry in options.reservedRanges { e820.addReserved(entry.range, type: entry.type) }
        // Both tables hold 128 entries; checked here so that a failure writes nothing.
        let tableLimit = min(LinuxBootParams.e820MaxEntries, LinuxLayout.pvhMemmapMaxEntries)
        guard e820.entries.count <= tableLimit else {
            throw .tooManyE820Entries(count: e820.entries.count, limit: tableLimit)
        }

        if kernel.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
            return try loadELF(kernel, initrd: initrd, cmdline: cmdline, memory: memory, e820: e820, options: options)
        }
        if BzImage.isBzImage(kernel) {
            return try loadBzImage(kernel, initrd: initrd, cmdline: cmdline, memory: memory, e820: e820, options: options)
        }
        // Not ELF, not bzImage: a flat image only loads through multiboot's address fields.
        if Multiboot.magicOffset(kernel) != nil {
            let header: MultibootHeader
            do { header = try Multiboot.findHeader(kernel) } catch { throw .multiboot(error) }
            return try loadMultiboot(kernel, header: header, initrd: initrd, cmdline: cmdline, memory: memory, e820: e820)
        }
        throw .unrecognizedKernel
    }

    // MARK: - Protocols

    static func loadELF(_ kernel: [UInt8], initrd: [UInt8]?, cmdline: String, memory: GuestMemoryMap,
                        e820: E820Map, options: LinuxBootOptions) throws(LinuxLoadError) -> LinuxBootResult {
        let image: ELFImage
        do { image = try ELFLoader.parse(kernel) } catch { throw .elf(error) }
        let pvhEntry = options.allowPVH ? try PVHLoader.entryPoint(elf: kernel) : nil
        if pvhEntry == nil, let header = try multibootHeader(kernel, elfClass: image.elfClass) {
            return try loadMultiboot(kernel, header: header, initrd: initrd, cmdline: cmdline, memory: memory, e820: e820)
        }
        if pvhEntry == nil, image.elfClass != .elf64 {
            throw .elfNotBootable(reason: "a 32-bit ELF without a PVH note has no 64-bit entry")
        }
        let kernelRanges = image.segments.map(\.physicalRange)
        for segment in image.segments {
            guard memory.isValid(segment.physicalRange) else {
                throw .kernelDoesNotFit(start: segment.physicalRange.start, size: segment.memorySize)
            }
            // The fixed boot structures live below 1 MiB; a kernel there would be overwritten.
            guard segment.physicalRange.start >= E820Map.highRAMStart else {
                throw .kernelOverlapsLowMemory(segment.physicalRange)
            }
        }
        let limit = LinuxLayout.commandLineLimitWithoutHeader
        let commandLine = try commandLineBytes(cmdline, limit: limit)
        let cmdRange = try commandLineRange(commandLine)
        // No setup header: no initrd_addr_max either; the kernel maps initrds anywhere in RAM.
        let initrdRange = try initrd.map { (bytes) throws(LinuxLoadError) in
            try placeInitrd(size: UInt64(bytes.count), memory: memory, maxAddress: UInt64.max, avoiding: kernelRanges)
        }

        // Validation done: write.
        let loaded: LoadedELF
        do { loaded = try ELFLoader.load(kernel, into: memory) } catch { throw .elf(error) }
        var written = loaded.segments.map { LinuxWrite(name: "kernel", range: $0) }
        written += try writeCommon(commandLine: commandLine, initrd: initrd, at: initrdRange, memory: memory)

        if let pvhEntry {
            let info = PVHLoader.StartInfo(commandLine: LinuxLayout.commandLineAddress, rsdp: options.rsdp,
                                           initrd: initrdRange, memoryMap: e820)
            written += try info.write(to: memory)
            let state = LinuxX86Setup.pvhEntryState(entry: pvhEntry, startInfo: LinuxLayout.pvhStartInfoAddress)
            return LinuxBootResult(bootProtocol: .pvh, entryState: state, kernel: kernelRanges, initrd: initrdRange,
                                   commandLine: cmdRange, e820: e820, written: written)
        }
        var params = LinuxBootParams()
        params.commandLine = LinuxLayout.commandLineAddress
        params.cmdlineSize = UInt32(limit)
        params.ramdisk = initrdRange
        params.acpiRSDP = options.rsdp
        params.e820 = e820
        written += try writeBootParams(params, memory: memory)
        let state = LinuxX86Setup.long64EntryState(entry: loaded.entry, bootParams: LinuxLayout.bootParamsAddress)
        return LinuxBootResult(bootProtocol: .elf64, entryState: state, kernel: kernelRanges, initrd: initrdRange,
                               commandLine: cmdRange, e820: e820, written: written)
    }

    static func loadBzImage(_ kernel: [UInt8], initrd: [UInt8]?, cmdline: String, memory: GuestMemoryMap,
                            e820: E820Map, options: LinuxBootOptions) throws(LinuxLoadError) -> LinuxBootResult {
        let header: BzImageHeader
        do { header = try BzImage.parse(kernel) } catch { throw .bzImage(error) }
        guard let footprint = BzImage.footprint(header, imageSize: kernel.count), memory.isValid(footprint) else {
            throw .kernelDoesNotFit(start: LinuxLayout.bzImageLoadAddress,
                                    size: UInt64(max(kernel.count - header.setupSize, Int(header.initSize))))
        }
        // The decompressed kernel must not land on the boot structures below 1 MiB.
        guard footprint.start >= E820Map.highRAMStart else { throw .kernelOverlapsLowMemory(footprint) }
        let commandLine = try commandLineBytes(cmdline, limit: Int(header.cmdlineSize))
        let cmdRange = try commandLineRange(commandLine)
        let initrdRange = try initrd.map { (bytes) throws(LinuxLoadError) in
            try placeInitrd(size: UInt64(bytes.count), memory: memory, maxAddress: UInt64(header.initrdAddrMax),
                            avoiding: [footprint])
        }

        let loaded = try BzImage.load(kernel, header: header, into: memory)
        var written = [LinuxWrite(name: "kernel", range: loaded.loaded)]
        written += try writeCommon(commandLine: commandLine, initrd: initrd, at: initrdRange, memory: memory)

        var params = LinuxBootParams()
        params.setupHeader = loaded.setupHeader
        params.commandLine = LinuxLayout.commandLineAddress
        params.ramdisk = initrdRange
        params.acpiRSDP = options.rsdp
        params.e820 = e820
        written += try writeBootParams(params, memory: memory)
        let state = LinuxX86Setup.long64EntryState(entry: loaded.entry64, bootParams: LinuxLayout.bootParamsAddress)
        return LinuxBootResult(bootProtocol: .bzImage64, entryState: state, kernel: [footprint], initrd: initrdRange,
                               commandLine: cmdRange, e820: e820, written: written)
    }

    /// The multiboot header an ELF without a PVH note boots through. A 32-bit ELF has no other
    /// protocol, so any magic counts and a bad header is reported; a 64-bit ELF switches only on a
    /// header that validates, so that stray bytes in a vmlinux never change how it boots.
    static func multibootHeader(_ kernel: [UInt8], elfClass: ELFClass) throws(LinuxLoadError) -> MultibootHeader? {
        guard Multiboot.magicOffset(kernel) != nil else { return nil }
        do { return try Multiboot.findHeader(kernel) } catch {
            if elfClass == .elf64 { return nil }
            throw .multiboot(error)
        }
    }

    // MARK: - Pieces

    /// The command line as NUL-terminated bytes, checked against the kernel's limit.
    public static func commandLineBytes(_ cmdline: String, limit: Int) throws(LinuxLoadError) -> [UInt8] {
        let bytes = Array(cmdline.utf8)
        guard !bytes.contains(0) else { throw .commandLineContainsNUL }
        let effective = min(limit, LinuxLayout.commandLineCapacity - 1)   // our buffer is finite too
        guard bytes.count <= effective else { throw .commandLineTooLong(length: bytes.count, limit: effective) }
        return bytes + [0]
    }

    /// Where the command line goes; never nil in practice (the bytes include the NUL).
    static func commandLineRange(_ bytes: [UInt8]) throws(LinuxLoadError) -> GuestRange {
        guard let range = GuestRange(start: LinuxLayout.commandLineAddress, length: UInt64(bytes.count)) else {
            throw .memory(.invalidRange(start: LinuxLayout.commandLineAddress, length: UInt64(bytes.count)))
        }
        return range
    }

    /// The highest page-aligned range of `size` bytes that ends at or below the ceiling —
    /// min(maxAddress + 1, end of the RAM region holding 1 MiB, the 32-bit MMIO hole) — starts at
    /// or above 1 MiB and overlaps none of `avoiding`. Walks down past each kernel range it hits.
    public static func placeInitrd(size: UInt64, memory: GuestMemoryMap, maxAddress: UInt64,
                                   avoiding: [GuestRange]) throws(LinuxLoadError) -> GuestRange {
        guard size > 0 else { throw .emptyInitrd }
        let floor = E820Map.highRAMStart
        guard let region = memory.region(containing: floor) else {
            throw .initrdDoesNotFit(size: size, ceiling: floor)
        }
        let regionEnd = region.range.end ?? GuestAddress(UInt64.max & ~0xFFF)
        let addressCeiling = maxAddress == UInt64.max ? GuestAddress(UInt64.max) : GuestAddress(maxAddress + 1)
        var ceiling = min(regionEnd, addressCeiling, GuestMemoryMap.mmioHoleStart)
        let initialCeiling = ceiling
        // Each pass either succeeds, fails, or lowers the ceiling below one more kernel range.
        for _ in 0...avoiding.count {
            guard ceiling.raw >= size, ceiling.raw - size >= floor.raw else { break }
            let start = GuestAddress((ceiling.raw - size) & ~UInt64(0xFFF))
            guard start >= floor, let range = GuestRange(start: start, length: size) else { break }
            guard let blocker = avoiding.filter({ $0.overlaps(range) }).min(by: { $0.start < $1.start }) else {
                return range
            }
            ceiling = blocker.start
        }
        throw .initrdDoesNotFit(size: size, ceiling: initialCeiling)
    }

    /// Tables, command line and initrd: the parts every protocol writes the same way.
    static func writeCommon(commandLine: [UInt8], initrd: [UInt8]?, at initrdRange: GuestRange?,
                            memory: GuestMemoryMap) throws(LinuxLoadError) -> [LinuxWrite] {
        try LinuxX86Setup.writeTables(into: memory)
        var written = LinuxX86Setup.tableRanges
        do {
            try memory.write(commandLine, at: LinuxLayout.commandLineAddress)
            if let initrd, let initrdRange { try memory.write(initrd, at: initrdRange.start) }
        } catch {
            throw .memory(error)
        }
        written.append(LinuxWrite(name: "command line", range: try commandLineRange(commandLine)))
        if let initrdRange { written.append(LinuxWrite(name: "initrd", range: initrdRange)) }
        return written
    }

    static func writeBootParams(_ params: LinuxBootParams, memory: GuestMemoryMap) throws(LinuxLoadError) -> [LinuxWrite] {
        try params.write(to: memory, at: LinuxLayout.bootParamsAddress)
        guard let range = GuestRange(start: LinuxLayout.bootParamsAddress, length: UInt64(LinuxBootParams.size)) else {
            return []
        }
        return [LinuxWrite(name: "boot_params", range: range)]
    }
}
