// ACPI tables: every field at its ACPI 6.5 offset, lengths and checksums, placement relative to
// the e820 map and to what LinuxLoader writes, and the rejected configurations.
import BootLoader
import GuestMemory
import Testing

let sampleACPIConfig = ACPIConfiguration(vcpuCount: 4, virtioMMIO: [
    .init(base: 0xD000_0000, irq: 5), .init(base: 0xD000_1000, irq: 6),
])

func byteSum(_ bytes: some Sequence<UInt8>) -> UInt8 { bytes.reduce(0) { $0 &+ $1 } }

@Suite struct ACPITablesTests {
    @Test func rsdpPointsToTheXSDTWithBothChecksums() throws {
        let image = try ACPITables.build(sampleACPIConfig)
        let rsdp = try #require(image.table("RSDP"))
        #expect(rsdp.count == 36)
        #expect(Array(rsdp[0..<8]) == Array("RSD PTR ".utf8))
        #expect(byteSum(rsdp[0..<20]) == 0)
        #expect(byteSum(rsdp) == 0)
        #expect(Array(rsdp[9..<15]) == Array("SWIFTV".utf8))
        #expect(rsdp[15] == 2)
        #expect(le(rsdp, 16, as: UInt32.self) == 0)
        #expect(le(rsdp, 20, as: UInt32.self) == 36)
        let xsdtOffset = try #require(image.offset(of: "XSDT"))
        #expect(le(rsdp, 24, as: UInt64.self) == 0xE_0000 + UInt64(xsdtOffset))
        #expect(0xE_0000 + xsdtOffset <= 0xF_FFFF)
    }

    @Test func everyTableHasItsLengthChecksumAndIds() throws {
        let image = try ACPITables.build(sampleACPIConfig)
        #expect(image.entries.map(\.signature) == ["RSDP", "XSDT", "FACP", "APIC", "DSDT"])
        for entry in image.entries where entry.signature != "RSDP" {
            let (signature, offset) = (entry.signature, entry.offset)
            #expect(offset % 16 == 0)
            let table = try #require(image.table(signature))
            #expect(Array(table[0..<4]) == Array(signature.utf8))
            #expect(Int(le(table, 4, as: UInt32.self)) == table.count)
            #expect(byteSum(table) == 0, "checksum of \(signature)")
            #expect(Array(table[10..<16]) == Array("SWIFTV".utf8))
            #expect(Array(table[16..<20]) == Array("SVMM".utf8))
            #expect(Array(table[20..<24]) == Array(signature.utf8))   // OEM table id "SVMM" + signature
            #expect(Array(table[28..<32]) == Array("SVMM".utf8))
            #expect(le(table, 24, as: UInt32.self) == 1 && le(table, 32, as: UInt32.self) == 1)
        }
    }

    @Test func xsdtListsFADTAndMADT() throws {
        let image = try ACPITables.build(sampleACPIConfig)
        let xsdt = try #require(image.table("XSDT"))
        #expect(xsdt.count == 36 + 16 && xsdt[8] == 1)
        let targets = [le(xsdt, 36, as: UInt64.self), le(xsdt, 44, as: UInt64.self)]
        let names = targets.map { address -> String in
            let offset = Int(address - 0xE_0000)
            return String(decoding: image.bytes[offset..<offset + 4], as: UTF8.self)
        }
        #expect(names == ["FACP", "APIC"])
    }

    @Test func fadtIsHardwareReducedWithSleepAndResetRegisters() throws {
        let image = try ACPITables.build(sampleACPIConfig)
        let fadt = try #require(image.table("FACP"))
        #expect(fadt.count == 276)
        #expect(fadt[8] == 6 && fadt[131] == 5)            // revision 6, minor 5 (ACPI 6.5)
        #expect(le(fadt, 36, as: UInt32.self) == 0)        // FIRMWARE_CTRL: no FACS
        #expect(le(fadt, 40, as: UInt32.self) == 0)        // 32-bit DSDT unused
        #expect(le(fadt, 46, as: UInt16.self) == 0)        // SCI_INT: none in HW-reduced mode
        #expect(le(fadt, 56, as: UInt32.self) == 0 && le(fadt, 64, as: UInt32.self) == 0)   // no PM1 blocks
        let flags = le(fadt, 112, as: UInt32.self)
        #expect(flags == (1 << 20 | 1 << 10 | 1 << 5 | 1 << 4))   // HW_REDUCED, RESET_REG_SUP, no fixed buttons
        #expect(le(fadt, 109, as: UInt16.self) & 0x2 == 0)   // no 8042 unless asked
        let dsdtOffset = try #require(image.offset(of: "DSDT"))
        #expect(le(fadt, 140, as: UInt64.self) == 0xE_0000 + UInt64(dsdtOffset))
        // Generic Address Structures: SystemIO, 8 bits, offset 0, byte access, port.
        #expect(Array(fadt[116..<120]) == [1, 8, 0, 1] && le(fadt, 120, as: UInt64.self) == 0x3C2)
        #expect(fadt[128] == ACPIPorts.resetValue)
        #expect(Array(fadt[244..<248]) == [1, 8, 0, 1] && le(fadt, 248, as: UInt64.self) == 0x3C0)
        #expect(Array(fadt[256..<260]) == [1, 8, 0, 1] && le(fadt, 260, as: UInt64.self) == 0x3C1)
        #expect(Array(fadt[268..<276]) == Array("SWIFTVMM".utf8))
        let withI8042 = ACPITables.fadt(dsdt: 0, i8042: true)
        #expect(le(withI8042, 109, as: UInt16.self) & 0x2 != 0)
    }

    @Test(arguments: [1, 4, 254]) func madtEntries(vcpus: Int) throws {
        let madt = try #require(try ACPITables.build(ACPIConfiguration(vcpuCount: vcpus)).table("APIC"))
        #expect(madt[8] == 5)
        #expect(le(madt, 36, as: UInt32.self) == 0xFEE0_0000)
        #expect(le(madt, 40, as: UInt32.self) == 0)
        // Walk the entries: type, length, body.
        var entries: [[UInt8]] = []
        var offset = 44
        while offset < madt.count {
            let length = Int(madt[offset + 1])
            try #require(length >= 2 && offset + length <= madt.count)
            entries.append(Array(madt[offset..<offset + length]))
            offset += length
        }
        #expect(offset == madt.count)
        #expect(entries.count == vcpus + 1 + 1 + 1)   // local APICs, IOAPIC, IRQ0 override, NMI
        for (i, lapic) in entries.prefix(vcpus).enumerated() {
            #expect(lapic == [0, 8, UInt8(i), UInt8(i), 1, 0, 0, 0])
        }
        let ioapic = entries[vcpus]
        #expect(ioapic[0] == 1 && ioapic[1] == 12 && ioapic[2] == UInt8(vcpus))
        #expect(le(ioapic, 4, as: UInt32.self) == 0xFEC0_0000 && le(ioapic, 8, as: UInt32.self) == 0)
        #expect(entries[vcpus + 1] == [2, 10, 0, 0, 2, 0, 0, 0, 0, 0])
        #expect(entries[vcpus + 2] == [4, 6, 0xFF, 0, 0, 1])
    }

    @Test func dsdtDescribesCOM1S5AndVirtio() throws {
        let dsdt = try #require(try ACPITables.build(sampleACPIConfig).table("DSDT"))
        #expect(dsdt[8] == 2)
        let body = Array(dsdt[36...])
        #expect(body.starts(with: [0x10]))   // Scope (\_SB)
        #expect(contains(body, [0x0C, 0x41, 0xD0, 0x05, 0x01]))   // EISAID ("PNP0501")
        #expect(contains(body, [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00]))
        #expect(contains(body, [0x08] + Array("_S5_".utf8) + [0x12, 0x05, 0x02, 0x0A, 0x05, 0x00]))
        #expect(contains(body, Array("VR00".utf8)) && contains(body, Array("VR01".utf8)))
        #expect(contains(body, [0x0D] + Array("LNRO0005".utf8) + [0]))
        #expect(contains(body, AMLResource.memory32Fixed(base: 0xD000_1000, length: 0x1000)
                         + (try AMLResource.interrupt([6], trigger: .edge))))
        #expect(!contains(body, Array("PS2K".utf8)))
        var withKeyboard = sampleACPIConfig
        withKeyboard.describeI8042 = true
        let dsdt2 = try #require(try ACPITables.build(withKeyboard).table("DSDT"))
        #expect(contains(dsdt2, Array("PS2K".utf8)) && contains(dsdt2, [0x0C, 0x41, 0xD0, 0x03, 0x03]))
    }

    @Test func writeCopiesTheImageAndReportsTheRange() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let result = try ACPITables.write(sampleACPIConfig, into: memory)
        let image = try ACPITables.build(sampleACPIConfig)
        #expect(result.rsdp == GuestAddress(0xE_0000))
        #expect(result.range == GuestRange(start: GuestAddress(0xE_0000), length: UInt64(image.bytes.count)))
        #expect(try memory.read(count: image.bytes.count, at: result.rsdp) == image.bytes)
        #expect(result.tables.map(\.name) == ["RSDP", "XSDT", "FACP", "APIC", "DSDT"])
        #expect(result.tables.allSatisfy { result.range.contains($0.range) })
        #expect(result.e820Entry == E820Entry(range: result.range, type: .acpi))
        #expect(image.bytes.count < 0x1000)
    }

    /// The tables sit in the e820 gap below 1 MiB; the .acpi entry the lead adds does not collide
    /// with anything LinuxLoader writes, and the RSDP reaches boot_params.
    @Test func tablesCoexistWithTheLinuxLoader() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let acpi = try ACPITables.write(sampleACPIConfig, into: memory)
        #expect(!E820Map(memory: memory).entries.contains { $0.type == .ram && $0.range.overlaps(acpi.range) })
        let options = LinuxBootOptions(rsdp: acpi.rsdp, reservedRanges: [acpi.e820Entry])
        let boot = try LinuxLoader.load(kernel: ELFBuilder.valid().build(), initrd: [1, 2, 3], cmdline: "console=ttyS0",
                                        memory: memory, options: options)
        #expect(boot.e820.entries.contains(acpi.e820Entry))
        #expect(!boot.written.contains { $0.range.overlaps(acpi.range) })
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x7070)) == 0xE_0000)
        #expect(try memory.read(count: 8, at: acpi.rsdp) == Array("RSD PTR ".utf8))
    }

    @Test func rejectedConfigurations() throws {
        #expect(throws: FirmwareTableError.vcpuCountOutOfRange(0, supported: 1...254)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 0))
        }
        #expect(throws: FirmwareTableError.vcpuCountOutOfRange(255, supported: 1...254)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 255))
        }
        #expect(throws: FirmwareTableError.misaligned(GuestAddress(0xE_0008), alignment: 16)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 1), at: GuestAddress(0xE_0008))
        }
        #expect(throws: FirmwareTableError.irqOutOfRange(24, pins: 24)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 1, virtioMMIO: [.init(base: 0xD000_0000, irq: 24)]))
        }
        #expect(throws: FirmwareTableError.invalidMMIOWindow(base: 0xFFFF_F800, size: 0x1000)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 1, virtioMMIO: [.init(base: 0xFFFF_F800, irq: 5)]))
        }
        let many = (0..<257).map { ACPIConfiguration.VirtioMMIODevice(base: 0xD000_0000 + UInt64($0) * 0x1000, irq: 5) }
        #expect(throws: FirmwareTableError.tooManyVirtioDevices(257, limit: 256)) {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 1, virtioMMIO: many))
        }
        let end = try #require(GuestRange(start: GuestAddress(0xF_FF00), length: 1))
        #expect {
            try ACPITables.build(ACPIConfiguration(vcpuCount: 1), at: end.start)
        } throws: { error in
            guard case FirmwareTableError.crossesOneMiB(let range) = error else { return false }
            return range.start == end.start
        }
        let small = try GuestMemoryMap.anonymous(size: 0x8_0000)
        #expect(throws: FirmwareTableError.self) { try ACPITables.write(ACPIConfiguration(vcpuCount: 1), into: small) }
        // 256 devices and 254 vCPUs still fit below 1 MiB.
        let full = ACPIConfiguration(vcpuCount: 254, virtioMMIO: Array(many.prefix(256)))
        #expect(try ACPITables.build(full).bytes.count < 0x2_0000)
    }

    @Test func powerOffDecoding() {
        #expect(ACPIPorts.isPowerOff(sleepControlWrite: 0x34))          // SLP_TYP 5, SLP_EN
        #expect(!ACPIPorts.isPowerOff(sleepControlWrite: 0x14))         // no SLP_EN
        #expect(!ACPIPorts.isPowerOff(sleepControlWrite: 0x20 | 3 << 2))   // S3-like type
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<$0 + needle.count]) == needle }
}
