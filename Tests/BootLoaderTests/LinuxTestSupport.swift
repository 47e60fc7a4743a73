// Helpers for the Linux boot tests: little-endian field reads from byte arrays and guest memory, a
// hand-built bzImage whose every header field is set explicitly, and ELF notes for ELFBuilder.
import BootLoader
import GuestMemory

func le<T: FixedWidthInteger & UnsignedInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type = T.self) -> T {
    var value: T = 0
    for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
    return value
}

func putLE<T: FixedWidthInteger & UnsignedInteger>(_ bytes: inout [UInt8], _ offset: Int, _ value: T) {
    for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
}

/// A bzImage: `setupSects` sectors of setup after the boot sector, then `kernelSize` bytes of
/// protected-mode "kernel" (a recognisable pattern).
struct BzImageBuilder {
    var setupSects: UInt8 = 3
    var bootFlag: UInt16 = 0xAA55
    var headerLength: UInt8 = 0x66          // header ends at 0x202 + 0x66 = 0x268
    var magic: UInt32 = 0x5372_6448
    var version: UInt16 = 0x020F
    var loadflags: UInt8 = 0x01
    var initrdAddrMax: UInt32 = 0x7FFF_FFFF
    var kernelAlignment: UInt32 = 0x20_0000
    var relocatable: UInt8 = 1
    var xloadflags: UInt16 = 0x3
    var cmdlineSize: UInt32 = 2047
    var prefAddress: UInt64 = 0x100_0000
    var initSize: UInt32 = 0x80_0000
    var kernelSize = 0x1000
    /// Cut the file to this many bytes after building.
    var truncateTo: Int?

    var setupSize: Int { (Int(setupSects == 0 ? 4 : setupSects) + 1) * 512 }
    static func kernelByte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 7 &+ 3) }

    func build() -> [UInt8] {
        var file = [UInt8](repeating: 0, count: setupSize + kernelSize)
        file[0x1F1] = setupSects
        putLE(&file, 0x1FE, bootFlag)
        file[0x200] = 0xEB
        file[0x201] = headerLength
        putLE(&file, 0x202, magic)
        putLE(&file, 0x206, version)
        file[0x211] = loadflags
        putLE(&file, 0x214, UInt32(0x10_0000))
        putLE(&file, 0x22C, initrdAddrMax)
        putLE(&file, 0x230, kernelAlignment)
        file[0x234] = relocatable
        putLE(&file, 0x236, xloadflags)
        putLE(&file, 0x238, cmdlineSize)
        putLE(&file, 0x258, prefAddress)
        putLE(&file, 0x260, initSize)
        for i in 0..<kernelSize { file[setupSize + i] = Self.kernelByte(i) }
        if let truncateTo { return Array(file.prefix(truncateTo)) }
        return file
    }
}

/// One ELF note as it sits in a PT_NOTE segment (4-byte padding).
func elfNote(name: String, type: UInt32, descriptor: [UInt8]) -> [UInt8] {
    var nameBytes = Array(name.utf8) + [0]
    let namesz = nameBytes.count
    while nameBytes.count % 4 != 0 { nameBytes.append(0) }
    var desc = descriptor
    while desc.count % 4 != 0 { desc.append(0) }
    var out = [UInt8](repeating: 0, count: 12)
    putLE(&out, 0, UInt32(namesz))
    putLE(&out, 4, UInt32(descriptor.count))
    putLE(&out, 8, type)
    return out + nameBytes + desc
}

/// ELFBuilder.valid() plus a PT_NOTE segment holding `notes` right after the 16 code bytes.
func elfWithNotes(_ notes: [[UInt8]], is64: Bool = true) -> ELFBuilder {
    var b = ELFBuilder.valid(is64: is64)
    let bytes = notes.flatMap { $0 }
    let offset = UInt64(ELFBuilder.payloadOffset + b.payload.count)
    b.payload += bytes
    b.segments.append(.init(type: 4, offset: offset, vaddr: 0, paddr: 0, filesz: UInt64(bytes.count),
                            memsz: UInt64(bytes.count), flags: 4))
    return b
}

func pvhNote(_ entry: UInt64, size: Int = 8) -> [UInt8] {
    elfNote(name: "Xen", type: 18, descriptor: (0..<size).map { UInt8(truncatingIfNeeded: entry >> (8 * UInt64($0))) })
}

func mib(_ n: UInt64) -> UInt64 { n << 20 }
