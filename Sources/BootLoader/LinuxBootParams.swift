// struct boot_params, the "zero page" of the Linux x86 boot protocol (Documentation/arch/x86/
// zero-page.rst, and boot.rst for the setup header embedded at 0x1F1). The 64-bit entry takes its
// address in rsi. Only the fields a VMM fills are modelled; the rest stays zero, which the kernel
// reads as "absent" (no EDD, no EFI, no screen_info video mode).
import GuestMemory

public struct LinuxBootParams: Equatable, Sendable {
    // MARK: Offsets in boot_params (zero-page.rst), then in the setup header (boot.rst).

    public static let size = 0x1000
    public static let acpiRSDPAddrOffset = 0x070          // u64, acpi_rsdp_addr
    public static let extRamdiskImageOffset = 0x0C0       // u32, ramdisk_image bits 63:32
    public static let extRamdiskSizeOffset = 0x0C4        // u32, ramdisk_size bits 63:32
    public static let extCmdLinePtrOffset = 0x0C8         // u32, cmd_line_ptr bits 63:32
    public static let e820EntriesOffset = 0x1E8           // u8, e820_entries
    public static let sentinelOffset = 0x1EF              // u8, must stay 0 (else the kernel wipes fields)
    public static let e820TableOffset = 0x2D0             // e820_table[128]
    public static let e820EntrySize = 20                  // addr u64, size u64, type u32, packed
    public static let e820MaxEntries = 128                // E820_MAX_ENTRIES_ZEROPAGE

    public static let setupHeaderOffset = 0x1F1           // first byte of struct setup_header
    public static let setupSectsOffset = 0x1F1            // u8
    public static let vidModeOffset = 0x1FA               // u16
    public static let bootFlagOffset = 0x1FE              // u16, 0xAA55
    public static let jumpOffset = 0x200                  // u16; byte 0x201 = header length - 2
    public static let headerMagicOffset = 0x202           // u32, "HdrS"
    public static let versionOffset = 0x206               // u16, protocol version
    public static let typeOfLoaderOffset = 0x210          // u8
    public static let loadFlagsOffset = 0x211             // u8
    public static let code32StartOffset = 0x214           // u32
    public static let ramdiskImageOffset = 0x218          // u32
    public static let ramdiskSizeOffset = 0x21C           // u32
    public static let heapEndPtrOffset = 0x224            // u16
    public static let cmdLinePtrOffset = 0x228            // u32
    public static let initrdAddrMaxOffset = 0x22C         // u32
    public static let kernelAlignmentOffset = 0x230       // u32
    public static let relocatableKernelOffset = 0x234     // u8
    public static let minAlignmentOffset = 0x235          // u8
    public static let xloadflagsOffset = 0x236            // u16
    public static let cmdlineSizeOffset = 0x238           // u32
    public static let hardwareSubarchOffset = 0x23C       // u32
    public static let setupDataOffset = 0x250             // u64
    public static let prefAddressOffset = 0x258           // u64
    public static let initSizeOffset = 0x260              // u32

    // MARK: Values

    public static let bootFlag: UInt16 = 0xAA55
    public static let headerMagic: UInt32 = 0x5372_6448   // "HdrS" read as a little-endian u32
    /// "Undefined" boot loader ID: we have none registered (boot.rst, type_of_loader).
    public static let loaderTypeUndefined: UInt8 = 0xFF
    public static let loadedHigh: UInt8 = 1 << 0
    public static let canUseHeap: UInt8 = 1 << 7
    public static let xlfKernel64: UInt16 = 1 << 0
    public static let xlfCanBeLoadedAbove4G: UInt16 = 1 << 1
    /// The heap end the real-mode setup would use (setup at X, heap up to X + 0xFE00). The 64-bit
    /// entry skips that code, but CAN_USE_HEAP with a zero pointer would be inconsistent.
    public static let defaultHeapEndPtr: UInt16 = 0xFE00
    /// The protocol version written when the image carries no setup header (ELF vmlinux): 2.12
    /// introduced xloadflags and is the oldest that defines the 64-bit entry.
    public static let elfProtocolVersion: UInt16 = 0x020C
    /// kernel_alignment written for ELF vmlinux (a 64-bit kernel's CONFIG_PHYSICAL_ALIGN default).
    public static let elfKernelAlignment: UInt32 = 0x20_0000

    // MARK: Contents

    /// The kernel's own setup header, bytes 0x1F1 ..< 0x202 + byte[0x201] of a bzImage; copied in
    /// first, then the loader fields below overwrite their slots. Empty for an ELF vmlinux.
    public var setupHeader: [UInt8] = []
    public var typeOfLoader: UInt8 = loaderTypeUndefined
    /// ORed into the loadflags copied from `setupHeader`.
    public var loadFlags: UInt8 = loadedHigh | canUseHeap
    public var heapEndPtr: UInt16 = defaultHeapEndPtr
    public var commandLine: GuestAddress?
    public var ramdisk: GuestRange?
    public var acpiRSDP: GuestAddress?
    public var e820: E820Map = E820Map()
    /// Written only when `setupHeader` is empty (the bzImage's own values win otherwise).
    public var version: UInt16 = elfProtocolVersion
    public var kernelAlignment: UInt32 = elfKernelAlignment
    public var cmdlineSize: UInt32 = UInt32(LinuxLayout.commandLineLimitWithoutHeader)

    public init() {}

    /// The 4096 bytes of boot_params. Fails only when the memory map has more entries than the
    /// zero page holds (the kernel would need an SETUP_E820_EXT setup_data, which we do not build).
    public func bytes() throws(LinuxLoadError) -> [UInt8] {
        guard e820.entries.count <= Self.e820MaxEntries else {
            throw .tooManyE820Entries(count: e820.entries.count, limit: Self.e820MaxEntries)
        }
        var page = LittleEndianBytes(count: Self.size)
        if setupHeader.isEmpty {
            // No kernel-provided header: write the fields the kernel checks or reads itself.
            page.put(Self.bootFlag, at: Self.bootFlagOffset)
            page.put(Self.headerMagic, at: Self.headerMagicOffset)
            page.put(version, at: Self.versionOffset)
            page.put(kernelAlignment, at: Self.kernelAlignmentOffset)
            page.put(cmdlineSize, at: Self.cmdlineSizeOffset)
            page.put(UInt16(0xFFFF), at: Self.vidModeOffset)   // "normal" text mode: no mode switch
            page.put(loadFlags, at: Self.loadFlagsOffset)
        } else {
            // Bounded: a header longer than the page would have been rejected by BzImage.parse;
            // `put` also ignores bytes past the page.
            page.put(setupHeader, at: Self.setupHeaderOffset)
            page.put(loadFlags | (setupHeader.count > 0x20 ? setupHeader[0x211 - 0x1F1] : 0), at: Self.loadFlagsOffset)
        }
        page.put(typeOfLoader, at: Self.typeOfLoaderOffset)
        page.put(heapEndPtr, at: Self.heapEndPtrOffset)
        if let commandLine {
            page.put(UInt32(truncatingIfNeeded: commandLine.raw), at: Self.cmdLinePtrOffset)
            page.put(UInt32(truncatingIfNeeded: commandLine.raw >> 32), at: Self.extCmdLinePtrOffset)
        }
        if let ramdisk {
            page.put(UInt32(truncatingIfNeeded: ramdisk.start.raw), at: Self.ramdiskImageOffset)
            page.put(UInt32(truncatingIfNeeded: ramdisk.start.raw >> 32), at: Self.extRamdiskImageOffset)
            page.put(UInt32(truncatingIfNeeded: ramdisk.length), at: Self.ramdiskSizeOffset)
            page.put(UInt32(truncatingIfNeeded: ramdisk.length >> 32), at: Self.extRamdiskSizeOffset)
        }
        if let acpiRSDP { page.put(acpiRSDP.raw, at: Self.acpiRSDPAddrOffset) }
        page.put(UInt8(e820.entries.count), at: Self.e820EntriesOffset)   // ≤ 128: checked above
        page.put(e820.zeroPageBytes(), at: Self.e820TableOffset)
        page.put(UInt8(0), at: Self.sentinelOffset)
        return page.bytes
    }

    /// Writes the page at `address` (the whole 4 KiB, so stale bytes never survive).
    public func write(to memory: GuestMemoryMap, at address: GuestAddress) throws(LinuxLoadError) {
        let page = try bytes()
        do { try memory.write(page, at: address) } catch { throw .memory(error) }
    }
}
