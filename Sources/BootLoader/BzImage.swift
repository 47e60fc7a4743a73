// The bzImage format (Documentation/arch/x86/boot.rst): a real-mode setup of (setup_sects + 1)
// 512-byte sectors whose first sector embeds the setup header at 0x1F1, then the protected-mode
// kernel (the self-decompressor). We boot it through the 64-bit entry at load address + 0x200, so
// the real-mode part never runs: only its header is copied into boot_params.
import GuestMemory

public enum BzImageError: Error, Equatable, Sendable {
    /// The file, or the header length the kernel states (0x202 + byte[0x201]), ends before `field`.
    case truncated(field: String)
    /// boot_flag at 0x1FE is not 0xAA55.
    case badBootFlag(UInt16)
    /// header at 0x202 is not "HdrS": a pre-2.00 kernel or not a bzImage at all.
    case badHeaderMagic(UInt32)
    /// version at 0x206 is below 2.06 (cmdline_size and the 32-bit/64-bit entries' contract).
    case protocolTooOld(UInt16)
    /// (setup_sects + 1) * 512 reaches or passes the end of the file: no protected-mode kernel.
    case setupSectsTooLarge(setupSects: UInt8, fileSize: Int)
    /// loadflags lacks LOADED_HIGH: a zImage that must be loaded at 0x10000.
    case notLoadedHigh(loadflags: UInt8)
    case kernelAlignmentNotPowerOfTwo(UInt32)
    /// xloadflags lacks XLF_KERNEL_64 (or the protocol predates xloadflags, < 2.12).
    case notA64BitKernel
}

/// The setup header of a validated bzImage.
public struct BzImageHeader: Equatable, Sendable {
    /// setup_sects as stored (0 means 4).
    public let setupSects: UInt8
    /// Bytes before the protected-mode kernel: (effective setup_sects + 1) * 512.
    public let setupSize: Int
    public let version: UInt16
    public let loadflags: UInt8
    public let initrdAddrMax: UInt32
    public let kernelAlignment: UInt32
    public let relocatable: Bool
    public let xloadflags: UInt16
    /// Maximum command line length, without the terminating NUL.
    public let cmdlineSize: UInt32
    public let prefAddress: UInt64
    public let initSize: UInt32
    /// One past the last setup-header byte: 0x202 + byte[0x201].
    public let headerEnd: Int

    /// Protocol 2.12: the 64-bit entry exists and where it is.
    public static let entry64Offset: UInt64 = 0x200
}

public enum BzImage {
    public static let minimumVersion: UInt16 = 0x0206
    static let xloadflagsVersion: UInt16 = 0x020C

    /// Whether `bytes` looks like a bzImage at all (boot flag and "HdrS"): the loader's dispatch test.
    public static func isBzImage(_ bytes: [UInt8]) -> Bool {
        let file = ByteReader(bytes)
        guard let flag = try? file.u16(at: LinuxBootParams.bootFlagOffset, field: "boot_flag"),
              let magic = try? file.u32(at: LinuxBootParams.headerMagicOffset, field: "header") else { return false }
        return flag == LinuxBootParams.bootFlag && magic == LinuxBootParams.headerMagic
    }

    /// Validates the setup header. Every field is read inside both the file and the header length
    /// the kernel states, so a short or lying header is `.truncated(field:)`, never a trap.
    public static func parse(_ bytes: [UInt8]) throws(BzImageError) -> BzImageHeader {
        let file = ByteReader(bytes)
        let bootFlag = try read(file, LinuxBootParams.bootFlagOffset, "boot_flag", limit: nil) { r, o, f throws(ImageLoadError) in try r.u16(at: o, field: f) }
        guard bootFlag == LinuxBootParams.bootFlag else { throw .badBootFlag(bootFlag) }
        let magic = try read(file, LinuxBootParams.headerMagicOffset, "header", limit: nil) { r, o, f throws(ImageLoadError) in try r.u32(at: o, field: f) }
        guard magic == LinuxBootParams.headerMagic else { throw .badHeaderMagic(magic) }
        let jumpLength = try read(file, LinuxBootParams.jumpOffset + 1, "jump", limit: nil) { r, o, f throws(ImageLoadError) in try r.u8(at: o, field: f) }
        let headerEnd = 0x202 + Int(jumpLength)
        // From here on, a field must also lie inside the header the kernel says it has.
        func u8(_ offset: Int, _ name: String) throws(BzImageError) -> UInt8 {
            try read(file, offset, name, limit: headerEnd) { r, o, f throws(ImageLoadError) in try r.u8(at: o, field: f) }
        }
        func u16(_ offset: Int, _ name: String) throws(BzImageError) -> UInt16 {
            try read(file, offset, name, limit: headerEnd) { r, o, f throws(ImageLoadError) in try r.u16(at: o, field: f) }
        }
        func u32(_ offset: Int, _ name: String) throws(BzImageError) -> UInt32 {
            try read(file, offset, name, limit: headerEnd) { r, o, f throws(ImageLoadError) in try r.u32(at: o, field: f) }
        }
        func u64(_ offset: Int, _ name: String) throws(BzImageError) -> UInt64 {
            try read(file, offset, name, limit: headerEnd) { r, o, f throws(ImageLoadError) in try r.u64(at: o, field: f) }
        }
        let version = try u16(LinuxBootParams.versionOffset, "version")
        guard version >= minimumVersion else { throw .protocolTooOld(version) }

        let setupSects = try u8(LinuxBootParams.setupSectsOffset, "setup_sects")
        let setupSize = (Int(setupSects == 0 ? 4 : setupSects) + 1) * 512   // ≤ 256 * 512: no overflow
        guard setupSize < bytes.count else { throw .setupSectsTooLarge(setupSects: setupSects, fileSize: bytes.count) }
        // The header must lie in the setup sectors it describes (it is copied from there).
        guard headerEnd <= setupSize else { throw .truncated(field: "setup header (length \(headerEnd - 0x1F1))") }

        let loadflags = try u8(LinuxBootParams.loadFlagsOffset, "loadflags")
        guard loadflags & LinuxBootParams.loadedHigh != 0 else { throw .notLoadedHigh(loadflags: loadflags) }
        let initrdAddrMax = try u32(LinuxBootParams.initrdAddrMaxOffset, "initrd_addr_max")
        let kernelAlignment = try u32(LinuxBootParams.kernelAlignmentOffset, "kernel_alignment")
        guard kernelAlignment != 0, kernelAlignment & (kernelAlignment - 1) == 0 else {
            throw .kernelAlignmentNotPowerOfTwo(kernelAlignment)
        }
        let relocatable = try u8(LinuxBootParams.relocatableKernelOffset, "relocatable_kernel") != 0
        let cmdlineSize = try u32(LinuxBootParams.cmdlineSizeOffset, "cmdline_size")
        // xloadflags, pref_address and init_size exist only from 2.12 / 2.10.
        guard version >= xloadflagsVersion else { throw .notA64BitKernel }
        let xloadflags = try u16(LinuxBootParams.xloadflagsOffset, "xloadflags")
        guard xloadflags & LinuxBootParams.xlfKernel64 != 0 else { throw .notA64BitKernel }
        let prefAddress = try u64(LinuxBootParams.prefAddressOffset, "pref_address")
        let initSize = try u32(LinuxBootParams.initSizeOffset, "init_size")
        return BzImageHeader(setupSects: setupSects, setupSize: setupSize, version: version, loadflags: loadflags,
                             initrdAddrMax: initrdAddrMax, kernelAlignment: kernelAlignment,
                             relocatable: relocatable, xloadflags: xloadflags, cmdlineSize: cmdlineSize,
                             prefAddress: prefAddress, initSize: initSize, headerEnd: headerEnd)
    }

    /// The memory the kernel occupies while booting: the loaded image at `loadAddress`, and
    /// init_size bytes from where the decompressor will put the kernel (boot.rst, init_size: from
    /// the runtime start address, which is max(load aligned up to kernel_alignment, pref_address)
    /// for a relocatable kernel, pref_address otherwise). nil when that overflows.
    public static func footprint(_ header: BzImageHeader, imageSize: Int,
                                 loadAddress: GuestAddress = LinuxLayout.bzImageLoadAddress) -> GuestRange? {
        guard let imageEnd = loadAddress.adding(UInt64(max(imageSize - header.setupSize, 0))) else { return nil }
        var runtime = GuestAddress(header.prefAddress)
        if header.relocatable, let aligned = loadAddress.alignedUp(to: UInt64(header.kernelAlignment)) {
            runtime = max(aligned, runtime)
        }
        guard let initEnd = runtime.adding(UInt64(header.initSize)) else { return nil }
        // A non-relocatable kernel may run below its load address: cover both areas.
        let start = min(loadAddress, runtime)
        let end = max(imageEnd, initEnd)
        return GuestRange(start: start, length: end.raw - start.raw)
    }

    /// Copies the protected-mode kernel to `LinuxLayout.bzImageLoadAddress` after checking that
    /// its whole boot footprint is RAM, and returns what boot_params and the entry need.
    public static func load(_ bytes: [UInt8], header: BzImageHeader,
                            into memory: GuestMemoryMap) throws(LinuxLoadError) -> LoadedBzImage {
        let load = LinuxLayout.bzImageLoadAddress
        guard let footprint = footprint(header, imageSize: bytes.count, loadAddress: load),
              memory.isValid(footprint), footprint.start >= E820Map.highRAMStart else {
            let size = UInt64(max(bytes.count - header.setupSize, 0))
            throw .kernelDoesNotFit(start: load, size: max(size, UInt64(header.initSize)))
        }
        // parse proved setupSize < bytes.count: the slice is non-empty and in bounds.
        let kernel = Array(bytes[header.setupSize...])
        do { try memory.write(kernel, at: load) } catch { throw .memory(error) }
        guard let loaded = GuestRange(start: load, length: UInt64(kernel.count)),
              let entry = load.adding(BzImageHeader.entry64Offset) else {
            throw .kernelDoesNotFit(start: load, size: UInt64(kernel.count))
        }
        return LoadedBzImage(header: header, setupHeader: Array(bytes[0x1F1..<header.headerEnd]),
                             loaded: loaded, footprint: footprint, entry64: entry)
    }

    /// Reads one field, turning the reader's truncation into ours and enforcing the header length.
    private static func read<T>(_ file: ByteReader, _ offset: Int, _ name: String, limit: Int?,
                                _ body: (ByteReader, Int, String) throws(ImageLoadError) -> T) throws(BzImageError) -> T {
        if let limit, offset + MemoryLayout<T>.size > limit { throw .truncated(field: name) }
        do { return try body(file, offset, name) } catch { throw .truncated(field: name) }
    }
}

/// A bzImage whose kernel is in guest memory.
public struct LoadedBzImage: Equatable, Sendable {
    public let header: BzImageHeader
    /// File bytes 0x1F1 ..< headerEnd, for boot_params.
    public let setupHeader: [UInt8]
    /// Where the protected-mode kernel was copied.
    public let loaded: GuestRange
    /// `loaded` plus the init_size area at the runtime address: what the initrd must avoid.
    public let footprint: GuestRange
    /// Load address + 0x200.
    public let entry64: GuestAddress
}
