// QEMU's fw_cfg interface without KVM, driven the way a guest driver does: 16-bit selector writes
// to 0x510, byte reads from 0x511, the directory parsed by its documented layout, DMA descriptors in
// a small in-process guest memory.
import GuestMemory
import Machine
import Testing

extension FwCfgDevice {
    /// Selects `key` and reads `count` bytes from the data port, one at a time.
    func readItem(_ key: UInt16, count: Int) -> [UInt8] {
        write(offset: 0, size: 2, value: UInt64(key))
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: read(offset: 1, size: 1)) }
    }
}

func fwLE(_ bytes: [UInt8]) -> UInt64 { bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
func fwBE(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

/// One parsed directory entry.
struct DirectoryEntry: Equatable { let name: String; let select: UInt16; let size: UInt32 }

func parseDirectory(_ fw: FwCfgDevice) -> [DirectoryEntry] {
    let count = Int(fwBE(fw.readItem(FwCfgDevice.fileDirectoryKey, count: 4)[...]))
    // The data port continues where the count left off: entries follow without reselecting.
    return (0..<count).map { _ in
        let raw = (0..<64).map { _ in UInt8(truncatingIfNeeded: fw.read(offset: 1, size: 1)) }
        let name = String(decoding: raw[8...].prefix { $0 != 0 }, as: UTF8.self)
        #expect(raw[6] == 0 && raw[7] == 0, "reserved field")
        return DirectoryEntry(name: name, select: UInt16(fwBE(raw[4..<6])), size: UInt32(fwBE(raw[0..<4])))
    }
}

@Suite struct FwCfgDeviceTests {
    @Test func signatureIDRamAndCPUs() {
        let fw = FwCfgDevice(ramSize: 6 << 30, cpuCount: 3, maxCPUCount: 8)
        #expect(fw.readItem(0x0000, count: 4) == Array("QEMU".utf8))
        #expect(fwLE(fw.readItem(0x0001, count: 4)) == 1, "traditional interface only without guest memory")
        #expect(fwLE(fw.readItem(0x0003, count: 8)) == 6 << 30)
        #expect(fwLE(fw.readItem(0x0005, count: 2)) == 3)
        #expect(fwLE(fw.readItem(0x000F, count: 2)) == 8)
    }

    @Test func readingPastTheEndGivesZerosAndReselectingRestarts() {
        let fw = FwCfgDevice(ramSize: 1 << 20, cpuCount: 1)
        #expect(fw.readItem(0, count: 10) == Array("QEMU".utf8) + [0, 0, 0, 0, 0, 0])
        #expect(fw.readItem(0, count: 2) == Array("QE".utf8))
        // Wider reads return the next bytes, lowest first.
        fw.write(offset: 0, size: 2, value: 0)
        #expect(fw.read(offset: 1, size: 4) == 0x554D_4551) // "QEMU"
        #expect(fw.read(offset: 1, size: 4) == 0)
    }

    @Test func unknownSelectorsReadAsZeros() {
        let fw = FwCfgDevice(ramSize: 1 << 20, cpuCount: 1)
        for key: UInt16 in [0x0002, 0x0010, 0x0020, 0x3FFF, 0x8003, 0xFFFF] {
            #expect(fw.readItem(key, count: 16) == [UInt8](repeating: 0, count: 16), "key \(key)")
        }
        // One-byte writes are data writes, which do nothing (not a selection).
        fw.write(offset: 0, size: 2, value: 0)
        fw.write(offset: 0, size: 1, value: 0x05)
        fw.write(offset: 1, size: 1, value: 0x05)
        #expect(fw.read(offset: 1, size: 1) == UInt64(UInt8(ascii: "Q")))
        // The write flag (bit 14) selects the same item.
        #expect(fw.readItem(0x4000, count: 4) == Array("QEMU".utf8))
    }

    @Test func filesAreListedAndReadBackByteForByte() throws {
        let fw = FwCfgDevice(ramSize: 1 << 20, cpuCount: 1)
        #expect(parseDirectory(fw).isEmpty)
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let k1 = try fw.addFile(name: "etc/zzz-payload", bytes: payload)
        let k2 = try fw.addFile(name: "etc/boot-menu-wait", bytes: [0x10, 0x27])
        let k3 = try fw.addFile(name: "opt/org.example/empty", bytes: [])
        #expect([k1, k2, k3] == [0x20, 0x21, 0x22])
        let entries = parseDirectory(fw)
        #expect(entries == [DirectoryEntry(name: "etc/boot-menu-wait", select: 0x21, size: 2),
                            DirectoryEntry(name: "etc/zzz-payload", select: 0x20, size: 3000),
                            DirectoryEntry(name: "opt/org.example/empty", select: 0x22, size: 0)])
        let entry = try #require(entries.first { $0.name == "etc/zzz-payload" })
        #expect(fw.readItem(entry.select, count: Int(entry.size)) == payload)
        #expect(fw.read(offset: 1, size: 1) == 0)
        #expect(fw.readItem(0x22, count: 3) == [0, 0, 0])
    }

    @Test func badFileNamesAreRefused() throws {
        let fw = FwCfgDevice(ramSize: 1 << 20, cpuCount: 1)
        let longest = String(repeating: "n", count: 55)
        try fw.addFile(name: longest, bytes: [1])
        #expect(parseDirectory(fw).map(\.name) == [longest])
        #expect(throws: FwCfgError.nameTooLong(longest + "x")) { try fw.addFile(name: longest + "x", bytes: []) }
        #expect(throws: FwCfgError.duplicateName(longest)) { try fw.addFile(name: longest, bytes: []) }
    }

    // MARK: DMA

    func dmaSetup() throws -> (FwCfgDevice, GuestMemoryMap) {
        let memory = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: 1 << 20)])
        return (FwCfgDevice(ramSize: 1 << 20, cpuCount: 2, memory: memory), memory)
    }

    /// Writes an FWCfgDmaAccess at `at` and hands its address to the device as a guest does:
    /// big-endian high word to 0x514, then the low word to 0x518.
    func dma(_ fw: FwCfgDevice, _ memory: GuestMemoryMap, at: UInt64, control: UInt32, length: UInt32, target: UInt64) throws -> UInt32 {
        try memory.write(Array(FwCfgBytes.be(control) + FwCfgBytes.be(length) + FwCfgBytes.be(target)), at: GuestAddress(at))
        fw.write(offset: 4, size: 4, value: UInt64(UInt32(at >> 32).byteSwapped))
        fw.write(offset: 8, size: 4, value: UInt64(UInt32(truncatingIfNeeded: at).byteSwapped))
        return UInt32(try memory.read(count: 4, at: GuestAddress(at)).reduce(0) { $0 << 8 | UInt32($1) })
    }

    @Test func dmaIsAdvertisedAndReadsAFile() throws {
        let (fw, memory) = try dmaSetup()
        #expect(fwLE(fw.readItem(0x0001, count: 4)) == 3)
        #expect(fw.read(offset: 4, size: 4) == 0x554D_4551 && fw.read(offset: 8, size: 4) == 0x4746_4320) // "QEMU CFG"
        let payload = (0..<700).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
        let key = try fw.addFile(name: "etc/payload", bytes: payload)
        try memory.fill(0xEE, count: 1024, at: GuestAddress(0x2000))
        // Select + read 1000 bytes: 700 of the file, then zeros.
        let status = try dma(fw, memory, at: 0x1000, control: UInt32(key) << 16 | 0x08 | 0x02, length: 1000, target: 0x2000)
        #expect(status == 0)
        #expect(try memory.read(count: 700, at: GuestAddress(0x2000)) == payload)
        #expect(try memory.read(count: 300, at: GuestAddress(0x2000 + 700)) == [UInt8](repeating: 0, count: 300))
        #expect(try memory.read(count: 24, at: GuestAddress(0x2000 + 1000)) == [UInt8](repeating: 0xEE, count: 24))
    }

    @Test func dmaSkipThenReadContinuesAndErrorsAreReported() throws {
        let (fw, memory) = try dmaSetup()
        #expect(try dma(fw, memory, at: 0x1000, control: 0x0005 << 16 | 0x08 | 0x04, length: 1, target: 0) == 0)
        #expect(try dma(fw, memory, at: 0x1000, control: 0x02, length: 1, target: 0x3000) == 0)
        #expect(try memory.read(count: 1, at: GuestAddress(0x3000)) == [0]) // high byte of u16 cpu count 2
        // A write (items are read-only) and a read into memory that is not there both fail.
        #expect(try dma(fw, memory, at: 0x1000, control: 0x0000 << 16 | 0x08 | 0x10, length: 4, target: 0x3000) == 1)
        #expect(try dma(fw, memory, at: 0x1000, control: 0x0000 << 16 | 0x08 | 0x02, length: 16, target: 1 << 40) == 1)
        // A descriptor outside guest memory is ignored rather than trapping.
        fw.write(offset: 4, size: 4, value: UInt64(UInt32(0xFFFF_FFFF)))
        fw.write(offset: 8, size: 4, value: UInt64(UInt32(0xFFFF_FFF8)))
    }

    @Test func withoutMemoryTheDMARegisterIsAbsent() {
        let fw = FwCfgDevice(ramSize: 1 << 20, cpuCount: 1)
        #expect(fw.read(offset: 4, size: 4) == 0xFFFF_FFFF)
        fw.write(offset: 4, size: 4, value: 0)
        fw.write(offset: 8, size: 4, value: 0x0010_0000)
        #expect(fw.readItem(0, count: 4) == Array("QEMU".utf8))
    }
}

/// Big-endian encodings for building descriptors (the device's own helpers are internal).
enum FwCfgBytes {
    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).reversed().map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }
    }
}
