// Errors of the image loaders. Each case names the header field or the segment that was wrong, so
// a bad image is diagnosed from the message alone (linux-loader style), and a hostile image can
// only ever produce one of these, never a trap.
import GuestMemory

public enum ImageLoadError: Error, Equatable, Sendable {
    /// The file ends before `field` (e.g. "e_ident", "e_phoff", "program header 2").
    case truncated(field: String)
    case badMagic
    /// e_ident[EI_CLASS]: 1 = ELF32, 2 = ELF64.
    case unsupportedClass(UInt8)
    /// e_ident[EI_DATA]: only 1 (little-endian) is x86.
    case unsupportedDataEncoding(UInt8)
    /// e_ident[EI_VERSION] or e_version is not EV_CURRENT (1).
    case unsupportedVersion(UInt32)
    /// e_type: only ET_EXEC (2), static executables.
    case unsupportedType(UInt16)
    /// e_machine: EM_386 (3) for ELF32, EM_X86_64 (62) for ELF64.
    case unsupportedMachine(UInt16)
    /// e_ehsize or e_phentsize smaller than the structure it describes.
    case badHeaderSize(field: String, value: UInt64)
    /// e_phoff + e_phnum * e_phentsize overflows or lies beyond the file.
    case programHeadersOutsideFile
    /// e_phnum is PN_XNUM (0xFFFF): the real count would be in a section header; not for us.
    case tooManyProgramHeaders
    case noLoadableSegments
    /// p_offset + p_filesz overflows or lies beyond the file.
    case segmentOutsideFile(index: Int)
    case fileSizeLargerThanMemorySize(index: Int)
    /// p_paddr + p_memsz overflows 2^64 (or 2^32 for ELF32).
    case addressOverflow(index: Int)
    /// The segment is not entirely backed by guest RAM.
    case segmentOutsideMemory(index: Int)
    /// Two PT_LOAD segments (program-header indices) share guest-physical bytes.
    case overlappingSegments(Int, Int)
    /// e_entry does not lie in any loaded segment.
    case entryOutsideSegments(entry: UInt64)
    /// Flat binaries: the image is empty.
    case emptyImage
    /// Flat binaries: [address, address + count) overflows or is not entirely guest RAM.
    case imageOutsideMemory(address: GuestAddress, length: UInt64)
    /// A copy into guest memory failed after validation (should not happen: ranges are checked first).
    case memory(GuestMemoryError)
}
