// ACPI tables for a hardware-reduced x86 guest, the way Firecracker and Cloud Hypervisor describe
// their microVMs: RSDP (revision 2) → XSDT → FADT (+ X_DSDT) and MADT. Hardware-reduced ACPI
// (FADT flag HW_REDUCED_ACPI) means no PM1 event/control blocks, no SCI, no PM timer, no FACS:
// power-off and reset go through the FADT's SLEEP_CONTROL_REG and RESET_REG, which we place at
// the I/O ports in `ACPIPorts`. Linux then treats the machine as having no legacy PIC and takes
// every legacy device's IRQ from the MADT (IOAPIC, overrides) or the DSDT (`_CRS`).
// All multi-byte fields are little endian; offsets are those of ACPI 6.5 chapter 5.2.
import GuestMemory

public enum FirmwareTableError: Error, Equatable, Sendable {
    /// APIC ids are 8-bit, 255 is the broadcast id and the IOAPIC takes id `vcpuCount`.
    case vcpuCountOutOfRange(Int, supported: ClosedRange<Int>)
    case misaligned(GuestAddress, alignment: UInt64)
    /// Tables that start below 1 MiB must end there too: the kernel is loaded at 1 MiB.
    case crossesOneMiB(GuestRange)
    /// A virtio-mmio window must be non-empty and lie below 4 GiB (Memory32Fixed is 32-bit).
    case invalidMMIOWindow(base: UInt64, size: UInt64)
    /// The in-kernel IOAPIC has `ACPITables.ioapicPins` pins with GSI base 0.
    case irqOutOfRange(UInt32, pins: Int)
    /// Device names are VR00 … VRFF.
    case tooManyVirtioDevices(Int, limit: Int)
    case aml(AMLError)
    case memory(GuestMemoryError)
}

/// The I/O ports of the FADT's hardware-reduced sleep and reset registers. The VMM must put a
/// device here (one byte each); ports 0x3C0-0x3C2 are free on a machine without VGA, and 0x3C0 is
/// what Cloud Hypervisor uses for the same purpose.
/// - Sleep control (0x3C0): Linux's S5 (power-off) writes one byte, `SLP_TYP << 2 | SLP_EN` with
///   SLP_TYP from the DSDT's `\_S5_` package (5) and SLP_EN = bit 5: 0x34. `isPowerOff` decodes it.
/// - Sleep status (0x3C1): Linux writes WAK_STS (bit 7) to clear it before sleeping and may read it;
///   reads may return 0, writes may be ignored.
/// - Reset (0x3C2): writing `resetValue` asks for a reboot (Linux's default `reboot=acpi` path).
public enum ACPIPorts {
    public static let sleepControl: UInt16 = 0x3C0
    public static let sleepStatus: UInt16 = 0x3C1
    public static let reset: UInt16 = 0x3C2
    public static let resetValue: UInt8 = 0x01
    /// The SLP_TYP value of `\_S5_` in our DSDT.
    public static let s5SleepType: UInt8 = 5
    /// SLEEP_CONTROL_REG: bits 2-4 SLP_TYP, bit 5 SLP_EN (ACPI 6.5 §4.8.3.7).
    public static let sleepTypeShift: UInt8 = 2
    public static let sleepTypeMask: UInt8 = 0x1C
    public static let sleepEnable: UInt8 = 0x20
    /// SLEEP_STATUS_REG: bit 7 WAK_STS.
    public static let wakeStatus: UInt8 = 0x80
    /// The Generic Event Device's event register (one byte, read clears): which events are
    /// pending when its interrupt fires. The DSDT's `_EVT` reads it.
    public static let genericEventStatus: UInt16 = 0x3C4
    /// Bit 0 of the event register: the power button was pressed.
    public static let powerButtonEvent: UInt8 = 0x01

    /// True when a byte written to `sleepControl` requests S5 (power-off).
    public static func isPowerOff(sleepControlWrite value: UInt8) -> Bool {
        value & sleepEnable != 0 && (value & sleepTypeMask) >> sleepTypeShift == s5SleepType
    }
}

public struct ACPIConfiguration: Equatable, Sendable {
    /// One virtio-mmio transport, described to the guest as `LNRO0005` (the id Linux's
    /// virtio_mmio driver matches in ACPI) with its register window and interrupt.
    public struct VirtioMMIODevice: Equatable, Sendable {
        public var base: UInt64
        public var irq: UInt32
        public var size: UInt64
        public init(base: UInt64, irq: UInt32, size: UInt64 = 0x1000) {
            self.base = base; self.irq = irq; self.size = size
        }
    }

    public var vcpuCount: Int
    public var virtioMMIO: [VirtioMMIODevice]
    /// Edge suits KVM irqfd (a pulse per notification); level needs a resample eventfd.
    public var virtioTrigger: AMLResource.Trigger
    /// Describe an i8042 keyboard controller (PNP0303, ports 0x60/0x64, IRQ 1) and set the FADT's
    /// 8042 boot flag: without either, Linux's i8042 driver does not probe. Only when the VMM has one.
    public var describeI8042: Bool
    /// The GSI of a Generic Event Device (ACPI0013) whose `_EVT` reads `ACPIPorts.genericEventStatus`
    /// and notifies a control-method power button (PNP0C0C): how a hardware-reduced machine, which
    /// has no fixed-feature button, asks the guest to shut down. nil: no power button.
    public var powerButtonGSI: UInt32?

    public init(vcpuCount: Int, virtioMMIO: [VirtioMMIODevice] = [], virtioTrigger: AMLResource.Trigger = .edge,
                describeI8042: Bool = false, powerButtonGSI: UInt32? = nil) {
        self.vcpuCount = vcpuCount; self.virtioMMIO = virtioMMIO
        self.virtioTrigger = virtioTrigger; self.describeI8042 = describeI8042
        self.powerButtonGSI = powerButtonGSI
    }
}

/// Where the tables went. Mark `range` as `.acpi` in the e820 map (`LinuxBootOptions.reservedRanges`,
/// `e820Entry`) and pass `rsdp` in `LinuxBootOptions.rsdp`.
public struct ACPIWriteResult: Equatable, Sendable {
    public let rsdp: GuestAddress
    public let range: GuestRange
    /// Each table's place ("RSDP", "XSDT", "FACP", "APIC", "DSDT"), for diagnostics.
    public let tables: [LinuxWrite]
    public var e820Entry: E820Entry { E820Entry(range: range, type: .acpi) }
}

/// The tables as one blob, laid out from `base`, before anything is written.
public struct ACPIImage: Equatable, Sendable {
    /// One table's place in `bytes`.
    public struct Entry: Equatable, Sendable {
        public let signature: String
        public let offset: Int
    }
    public let base: GuestAddress
    public let bytes: [UInt8]
    /// In layout order: RSDP, XSDT, FACP, APIC, DSDT.
    public let entries: [Entry]

    public func offset(of signature: String) -> Int? { entries.first { $0.signature == signature }?.offset }

    /// The table whose signature is `signature` (as long as its header says), or nil.
    public func table(_ signature: String) -> [UInt8]? {
        guard let offset = offset(of: signature), offset + 8 <= bytes.count else { return nil }
        let length = signature == "RSDP" ? ACPITables.rsdpLength
            : Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
        guard offset + length <= bytes.count else { return nil }
        return Array(bytes[offset..<offset + length])
    }
}

public enum ACPITables {
    /// In the BIOS area [0xE0000, 0x100000) that the e820 map leaves as a gap and that Linux also
    /// scans for "RSD PTR " when no boot protocol passes the address.
    public static let defaultBase = GuestAddress(0xE_0000)
    public static let oemID = "SWIFTV"
    public static let oemRevision: UInt32 = 1
    public static let creatorID = "SVMM"
    public static let creatorRevision: UInt32 = 1
    /// FADT "Hypervisor Vendor Identity" (ACPI 6.0+), 8 bytes.
    public static let hypervisorVendor = "SWIFTVMM"
    public static let localAPICAddress: UInt32 = 0xFEE0_0000
    public static let ioapicAddress: UInt32 = 0xFEC0_0000
    /// KVM's in-kernel IOAPIC (KVM_IOAPIC_NUM_PINS).
    public static let ioapicPins = 24
    public static let supportedVCPUs: ClosedRange<Int> = 1...254
    public static let rsdpLength = 36
    public static let headerLength = 36
    public static let fadtLength = 276
    public static let fadtRevision: UInt8 = 6
    public static let fadtMinorRevision: UInt8 = 5
    public static let madtRevision: UInt8 = 5
    /// Revision 2+ makes AML integers 64-bit.
    public static let dsdtRevision: UInt8 = 2

    // FADT flags (ACPI 6.5 table 5.10).
    /// PWR_BUTTON / SLP_BUTTON set: no fixed-feature buttons (a hardware-reduced machine has none);
    /// a power button has to be a control-method device in the DSDT.
    public static let fadtFlagPowerButtonNotFixed: UInt32 = 1 << 4
    public static let fadtFlagSleepButtonNotFixed: UInt32 = 1 << 5
    public static let fadtFlagResetRegSupported: UInt32 = 1 << 10
    public static let fadtFlagHardwareReduced: UInt32 = 1 << 20
    // IA-PC boot architecture flags.
    public static let bootArch8042: UInt16 = 1 << 1
    public static let bootArchVGANotPresent: UInt16 = 1 << 2
    public static let bootArchCMOSRTCNotPresent: UInt16 = 1 << 5

    /// Builds the tables and writes them at `base` (16-byte aligned; `defaultBase` normally).
    public static func write(_ config: ACPIConfiguration, into memory: GuestMemoryMap,
                             at base: GuestAddress = defaultBase) throws(FirmwareTableError) -> ACPIWriteResult {
        let image = try build(config, at: base)
        guard let range = GuestRange(start: base, length: UInt64(image.bytes.count)) else {
            throw .memory(.invalidRange(start: base, length: UInt64(image.bytes.count)))
        }
        guard memory.isValid(range) else { throw .memory(.outOfBounds(address: base, length: range.length)) }
        do { try memory.write(image.bytes, at: base) } catch { throw .memory(error) }
        var tables: [LinuxWrite] = []
        for entry in image.entries {
            let length = image.table(entry.signature)?.count ?? 0
            if let start = base.adding(UInt64(entry.offset)), let r = GuestRange(start: start, length: UInt64(length)) {
                tables.append(LinuxWrite(name: entry.signature, range: r))
            }
        }
        return ACPIWriteResult(rsdp: base, range: range, tables: tables)
    }

    /// Lays the tables out from `base`: RSDP, XSDT, FADT, MADT, DSDT, each 16-byte aligned.
    public static func build(_ config: ACPIConfiguration, at base: GuestAddress = defaultBase) throws(FirmwareTableError) -> ACPIImage {
        try validate(config)
        guard base.isAligned(to: 16) else { throw .misaligned(base, alignment: 16) }
        let dsdtBytes: [UInt8]
        do { dsdtBytes = try dsdt(config) } catch { throw .aml(error) }
        let madtBytes = madt(config)
        let xsdtLength = headerLength + 2 * 8
        let xsdtOffset = align16(rsdpLength)
        let fadtOffset = align16(xsdtOffset + xsdtLength)
        let madtOffset = align16(fadtOffset + fadtLength)
        let dsdtOffset = align16(madtOffset + madtBytes.count)
        let total = dsdtOffset + dsdtBytes.count
        guard let range = GuestRange(start: base, length: UInt64(total)), let end = range.end else {
            throw .memory(.invalidRange(start: base, length: UInt64(total)))
        }
        if base < E820Map.highRAMStart, end > E820Map.highRAMStart { throw .crossesOneMiB(range) }
        // `range` proved base + total fits in 64 bits, so no offset below total can wrap.
        let address = { (offset: Int) in base.raw &+ UInt64(offset) }

        var blob = LittleEndianBytes(count: total)
        blob.put(rsdp(xsdt: address(xsdtOffset)), at: 0)
        blob.put(xsdt(entries: [address(fadtOffset), address(madtOffset)]), at: xsdtOffset)
        blob.put(fadt(dsdt: address(dsdtOffset), i8042: config.describeI8042), at: fadtOffset)
        blob.put(madtBytes, at: madtOffset)
        blob.put(dsdtBytes, at: dsdtOffset)
        let layout = [("RSDP", 0), ("XSDT", xsdtOffset), ("FACP", fadtOffset), ("APIC", madtOffset), ("DSDT", dsdtOffset)]
        return ACPIImage(base: base, bytes: blob.bytes,
                         entries: layout.map { ACPIImage.Entry(signature: $0.0, offset: $0.1) })
    }

    static func validate(_ config: ACPIConfiguration) throws(FirmwareTableError) {
        guard supportedVCPUs.contains(config.vcpuCount) else {
            throw .vcpuCountOutOfRange(config.vcpuCount, supported: supportedVCPUs)
        }
        guard config.virtioMMIO.count <= 256 else { throw .tooManyVirtioDevices(config.virtioMMIO.count, limit: 256) }
        for device in config.virtioMMIO {
            guard device.size > 0, device.size <= UInt64(UInt32.max), device.base <= UInt64(UInt32.max),
                  device.size <= (1 << 32) - device.base else {
                throw .invalidMMIOWindow(base: device.base, size: device.size)
            }
            guard device.irq < UInt32(ioapicPins) else { throw .irqOutOfRange(device.irq, pins: ioapicPins) }
        }
    }

    // MARK: - Tables

    /// RSDP revision 2 (36 bytes): RsdtAddress 0, so ACPICA takes the XSDT (64-bit entries).
    public static func rsdp(xsdt: UInt64) -> [UInt8] {
        var out = LittleEndianBytes(count: rsdpLength)
        out.put(Array("RSD PTR ".utf8), at: 0)
        out.put(padded(oemID, to: 6), at: 9)
        out.put(UInt8(2), at: 15)                 // revision: ACPI 2.0+
        out.put(UInt32(0), at: 16)                // RsdtAddress: no RSDT
        out.put(UInt32(rsdpLength), at: 20)       // Length
        out.put(xsdt, at: 24)                     // XsdtAddress
        out.put(checksum(out.bytes[0..<20]), at: 8)          // covers the ACPI 1.0 part
        out.put(checksum(out.bytes), at: 32)                 // extended: all 36 bytes
        return out.bytes
    }

    public static func xsdt(entries: [UInt64]) -> [UInt8] {
        table("XSDT", revision: 1, oemTableID: "SVMMXSDT", body: entries.flatMap { AML.littleEndian($0, count: 8) })
    }

    /// FADT revision 6.5, hardware-reduced: everything legacy is zero; only the flags, the reset
    /// and sleep registers, X_DSDT and the hypervisor vendor are set.
    public static func fadt(dsdt: UInt64, i8042: Bool = false) -> [UInt8] {
        var body = LittleEndianBytes(count: fadtLength - headerLength)
        func at(_ offset: Int) -> Int { offset - headerLength }   // spec offsets are from the table start
        var bootArch = bootArchVGANotPresent | bootArchCMOSRTCNotPresent
        if i8042 { bootArch |= bootArch8042 }
        body.put(bootArch, at: at(109))                                  // IAPC_BOOT_ARCH
        let flags = fadtFlagHardwareReduced | fadtFlagResetRegSupported | fadtFlagPowerButtonNotFixed
            | fadtFlagSleepButtonNotFixed
        body.put(flags, at: at(112))                                      // Flags
        body.put(ioRegister(ACPIPorts.reset), at: at(116))                // RESET_REG
        body.put(ACPIPorts.resetValue, at: at(128))                       // RESET_VALUE
        body.put(fadtMinorRevision, at: at(131))                          // FADT Minor Version
        body.put(dsdt, at: at(140))                                       // X_DSDT (DSDT at 40 stays 0)
        body.put(ioRegister(ACPIPorts.sleepControl), at: at(244))         // SLEEP_CONTROL_REG
        body.put(ioRegister(ACPIPorts.sleepStatus), at: at(256))          // SLEEP_STATUS_REG
        body.put(Array(hypervisorVendor.utf8), at: at(268))               // Hypervisor Vendor Identity
        return table("FACP", revision: fadtRevision, oemTableID: "SVMMFACP", body: body.bytes)
    }

    /// A Generic Address Structure for a one-byte I/O port: space 1 (SystemIO), width 8, offset 0,
    /// access size 1 (byte).
    static func ioRegister(_ port: UInt16) -> [UInt8] {
        [1, 8, 0, 1] + AML.littleEndian(UInt64(port), count: 8)
    }

    /// MADT: local APIC address, flags 0 (no PCAT_COMPAT: hardware-reduced Linux ignores the 8259s
    /// anyway and KVM's in-kernel PIC stays idle), then one Processor Local APIC per vCPU (UID and
    /// APIC id = index, enabled), the IOAPIC (GSI base 0), ISA IRQ0 → GSI 2 (the PIT on pin 2, as
    /// on a PC and in KVM's default routing) and a Local APIC NMI on LINT1 for all processors.
    public static func madt(_ config: ACPIConfiguration) -> [UInt8] {
        var body: [UInt8] = AML.littleEndian(UInt64(localAPICAddress), count: 4) + [0, 0, 0, 0]
        for index in 0..<config.vcpuCount {
            body += [0, 8, UInt8(truncatingIfNeeded: index), UInt8(truncatingIfNeeded: index), 1, 0, 0, 0]
        }
        body += [1, 12, ioapicID(vcpuCount: config.vcpuCount), 0] + AML.littleEndian(UInt64(ioapicAddress), count: 4)
            + [0, 0, 0, 0]
        // Interrupt Source Override: bus 0 (ISA), source IRQ 0, GSI 2, flags 0 (conforms to ISA:
        // edge, active high).
        body += [2, 10, 0, 0] + AML.littleEndian(2, count: 4) + [0, 0]
        // Local APIC NMI: processor UID 0xFF (all), flags 0 (conforming), LINT1.
        body += [4, 6, 0xFF, 0, 0, 1]
        return table("APIC", revision: madtRevision, oemTableID: "SVMMAPIC", body: body)
    }

    /// The IOAPIC's id: after the vCPUs' APIC ids, as the MP table has it (ids 0...254 are usable).
    public static func ioapicID(vcpuCount: Int) -> UInt8 { UInt8(clamping: vcpuCount) }

    /// A System Description Table: the 36-byte header, then `body`, with length and checksum set.
    public static func table(_ signature: String, revision: UInt8, oemTableID: String, body: [UInt8]) -> [UInt8] {
        var out = LittleEndianBytes(count: headerLength + body.count)
        out.put(padded(signature, to: 4), at: 0)
        out.put(UInt32(truncatingIfNeeded: headerLength + body.count), at: 4)
        out.put(revision, at: 8)
        out.put(padded(oemID, to: 6), at: 10)
        out.put(padded(oemTableID, to: 8), at: 16)
        out.put(oemRevision, at: 24)
        out.put(padded(creatorID, to: 4), at: 28)
        out.put(creatorRevision, at: 32)
        out.put(body, at: headerLength)
        out.put(checksum(out.bytes), at: 9)
        return out.bytes
    }

    // MARK: - Helpers

    /// The byte that makes `bytes` (with this byte's slot at 0) sum to 0 mod 256.
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        0 &- bytes.reduce(UInt8(0)) { $0 &+ $1 }
    }

    /// ASCII `text` cut or space-padded to `count` bytes (OEM ids are space padded by convention).
    static func padded(_ text: String, to count: Int) -> [UInt8] {
        let bytes = Array(text.utf8.prefix(count))
        return bytes + [UInt8](repeating: 0x20, count: count - bytes.count)
    }

    static func align16(_ value: Int) -> Int { (value + 15) & ~15 }
}
