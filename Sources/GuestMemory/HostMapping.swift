// The Linux calls that create host mappings for guest RAM, kept in one place so that GuestRegion
// reads as policy (which flags, which checks) and this file as mechanism.
import CKVM
import Glibc
import SystemPackage

/// Page sizes the module cares about. Guest RAM sizes and offsets are checked against these up
/// front because mmap would otherwise round silently (size) or fail with a bare EINVAL (offset).
enum PageSize {
    static let small: UInt64 = 4096
    static let huge: UInt64 = 2 << 20
}

/// Constants from <linux/memfd.h> and <fcntl.h> that Swift's Glibc module does not import: glibc
/// only declares them under _GNU_SOURCE, and this package has no C shim for GuestMemory. The values
/// are part of the stable Linux ABI.
enum LinuxABI {
    static let mfdCloexec: UInt32 = 0x0001
    static let mfdAllowSealing: UInt32 = 0x0002
    static let mfdHugeTLB: UInt32 = 0x0004
    /// F_LINUX_SPECIFIC_BASE (1024) + 9 / + 10.
    static let fAddSeals: Int32 = 1033
    static let fGetSeals: Int32 = 1034
    static let fSealSeal: Int32 = 0x0001
    static let fSealShrink: Int32 = 0x0002
    static let fSealGrow: Int32 = 0x0004
}

/// The calling thread's errno as swift-system's type.
func currentErrno() -> Errno {
    Errno(rawValue: Glibc.errno)
}

/// mmap with read/write protection; failures become `.system(operation: "mmap", …)`.
func mapHostMemory(length: Int, flags: Int32, fd: Int32, offset: off_t) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
    // Sound: a fresh mapping at an address of the kernel's choosing (nil hint, no MAP_FIXED) cannot
    // clobber existing memory; the result is checked before use.
    let result = unsafe mmap(nil, length, PROT_READ | PROT_WRITE, flags, fd, offset)
    // Sound: comparing pointer values only; nothing is dereferenced.
    guard let base = unsafe result, unsafe base != MAP_FAILED else {
        throw .system(operation: "mmap", errno: currentErrno())
    }
    // Guest RAM has no business in a VMM core dump (size, and the guest's secrets); advisory only,
    // so a failure is ignored. Sound: `base`/`length` are exactly the mapping just created.
    _ = unsafe madvise(base, length, MADV_DONTDUMP)
    return unsafe base  // Sound: hands the owned mapping to the GuestRegion that will munmap it.
}

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING [| MFD_HUGETLB]).
func createMemfd(name: String, hugePages: Bool) throws(GuestMemoryError) -> FileDescriptor {
    var flags = LinuxABI.mfdCloexec | LinuxABI.mfdAllowSealing
    if hugePages { flags |= LinuxABI.mfdHugeTLB }
    // memfd_create is declared only under _GNU_SOURCE, so Swift reaches it through CKVM's shim (a
    // direct call: a dlsym lookup finds nothing in a fully static executable).
    // Sound: withCString's pointer is NUL-terminated and valid for the duration of the call.
    let fd = unsafe name.withCString { unsafe ckvm_sys_memfd_create($0, flags) }
    guard fd >= 0 else {
        throw .system(operation: "memfd_create", errno: Errno(rawValue: -fd))
    }
    return FileDescriptor(rawValue: fd)
}

/// Size of a regular file, or nil for anything else (block devices report 0 and are trusted).
func regularFileSize(_ fd: FileDescriptor) throws(GuestMemoryError) -> UInt64? {
    var info = Glibc.stat()
    // Sound: `info` is a local stat buffer the kernel fills; the pointer does not escape the call.
    guard unsafe fstat(fd.rawValue, &info) == 0 else {
        throw .system(operation: "fstat", errno: currentErrno())
    }
    guard info.st_mode & S_IFMT == S_IFREG else { return nil }
    return UInt64(clamping: info.st_size)
}
