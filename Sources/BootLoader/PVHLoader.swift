// The PVH boot ABI (Xen's include/public/arch-x86/hvm/start_info.h, used by Linux, FreeBSD and
// QEMU/Firecracker/Cloud Hypervisor for direct kernel boot): an ELF kernel announces a 32-bit
// entry in a XEN_ELFNOTE_PHYS32_ENTRY note; the loader enters it in flat protected mode with ebx
// pointing to an hvm_start_info that locates the command line, the modules (initrd) and the
// memory map. Nothing needs a setup header or real-mode code.
import GuestMemory

public enum PVHLoader {
    /// Owner name of Xen's ELF notes.
    public static let noteName = "Xen"
    /// XEN_ELFNOTE_PHYS32_ENTRY: the descriptor is the 32-bit physical entry address.
    public static let phys32EntryNoteType: UInt32 = 18
    /// XEN_HVM_START_MAGIC_VALUE ("xEn3" with the high bit of 'E' set).
    public static let startInfoMagic: UInt32 = 0x336E_C578
    /// Version 1 adds memmap_paddr / memmap_entries, which Linux uses instead of probing E820.
    public static let startInfoVersion: UInt32 = 1

    // hvm_start_info field offsets (56 bytes in version 1).
    public static let startInfoSize = 56
    public static let magicOffset = 0            // u32
    public static let versionOffset = 4          // u32
    public static let flagsOffset = 8            // u32
    public static let nrModulesOffset = 12       // u32
    public static let modlistPaddrOffset = 16    // u64
    public static let cmdlinePaddrOffset = 24    // u64
    public static let rsdpPaddrOffset = 32       // u64
    public static let memmapPaddrOffset = 40     // u64
    public static let memmapEntriesOffset = 48   // u32
    public static let reservedOffset = 52        // u32, must be 0

    // hvm_modlist_entry: paddr u64, size u64, cmdline_paddr u64, reserved u64.
    public static let modlistEntrySize = 32
    // hvm_memmap_table_entry: addr u64, size u64, type u32, reserved u32.
    public static let memmapEntrySize = 24

    /// The PVH entry of an ELF kernel, or nil when it carries no XEN_ELFNOTE_PHYS32_ENTRY note.
    /// The descriptor is 4 or 8 bytes (Linux emits a pointer-sized value); the address must be
    /// below 4 GiB because it is entered with paging off.
    public static func entryPoint(elf bytes: [UInt8]) throws(LinuxLoadError) -> GuestAddress? {
        let notes: [ELFNote]
        do { notes = try ELFLoader.notes(bytes) } catch { throw .elf(error) }
        guard let note = notes.first(where: { $0.name == noteName && $0.type == phys32EntryNoteType }) else {
            return nil
        }
        let value: UInt64
        switch note.descriptor.count {
        case 4, 8:
            value = note.descriptor.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        default:
            throw .pvhEntryNoteBadSize(note.descriptor.count)
        }
        guard value <= UInt64(UInt32.max) else { throw .pvhEntryAbove4GiB(value) }
        return GuestAddress(value)
    }

    /// What goes into hvm_start_info; addresses of 0 mean "absent" (the header's own convention).
    public struct StartInfo: Equatable, Sendable {
        public var commandLine: GuestAddress?
        public var rsdp: GuestAddress?
        /// The initrd, as the single module.
        public var initrd: GuestRange?
        public var memoryMap: E820Map
        public var modlistAddress: GuestAddress = LinuxLayout.pvhModlistAddress
        public var memmapAddress: GuestAddress = LinuxLayout.pvhMemmapAddress

        public init(commandLine: GuestAddress?, rsdp: GuestAddress?, initrd: GuestRange?, memoryMap: E820Map) {
            self.commandLine = commandLine; self.rsdp = rsdp; self.initrd = initrd; self.memoryMap = memoryMap
        }

        /// hvm_start_info itself.
        public func startInfoBytes() -> [UInt8] {
            var out = LittleEndianBytes(count: startInfoSize)
            out.put(startInfoMagic, at: magicOffset)
            out.put(startInfoVersion, at: versionOffset)
            out.put(UInt32(0), at: flagsOffset)
            out.put(UInt32(initrd == nil ? 0 : 1), at: nrModulesOffset)
            out.put(initrd == nil ? 0 : modlistAddress.raw, at: modlistPaddrOffset)
            out.put(commandLine?.raw ?? 0, at: cmdlinePaddrOffset)
            out.put(rsdp?.raw ?? 0, at: rsdpPaddrOffset)
            out.put(memmapAddress.raw, at: memmapPaddrOffset)
            out.put(UInt32(clamping: memoryMap.entries.count), at: memmapEntriesOffset)
            return out.bytes
        }

        /// The module list: one entry for the initrd, no per-module command line.
        public func modlistBytes() -> [UInt8] {
            guard let initrd else { return [] }
            var out = LittleEndianBytes(count: modlistEntrySize)
            out.put(initrd.start.raw, at: 0)
            out.put(initrd.length, at: 8)
            return out.bytes
        }

        public func memmapBytes() -> [UInt8] {
            var out = LittleEndianBytes(count: memoryMap.entries.count * memmapEntrySize)
            for (i, entry) in memoryMap.entries.enumerated() {
                out.put(entry.range.start.raw, at: i * memmapEntrySize)
                out.put(entry.range.length, at: i * memmapEntrySize + 8)
                out.put(entry.type.rawValue, at: i * memmapEntrySize + 16)
            }
            return out.bytes
        }

        /// Writes the three structures; returns what was written, for diagnostics.
        public func write(to memory: GuestMemoryMap,
                          at address: GuestAddress = LinuxLayout.pvhStartInfoAddress) throws(LinuxLoadError) -> [LinuxWrite] {
            guard memoryMap.entries.count <= LinuxLayout.pvhMemmapMaxEntries else {
                throw .tooManyE820Entries(count: memoryMap.entries.count, limit: LinuxLayout.pvhMemmapMaxEntries)
            }
            var written: [LinuxWrite] = []
            let pieces = [("hvm_start_info", startInfoBytes(), address), ("hvm_modlist", modlistBytes(), modlistAddress),
                          ("hvm_memmap", memmapBytes(), memmapAddress)]
            for (name, bytes, at) in pieces where !bytes.isEmpty {
                do { try memory.write(bytes, at: at) } catch { throw .memory(error) }
                if let range = GuestRange(start: at, length: UInt64(bytes.count)) {
                    written.append(LinuxWrite(name: name, range: range))
                }
            }
            return written
        }
    }
}
