// Intel MultiProcessor Specification 1.4 tables, for guests booted with `acpi=off`: without ACPI,
// Linux (CONFIG_X86_MPPARSE) finds the CPUs and the IOAPIC only through these. Linux scans the
// last KiB of base memory (639 KiB = 0x9FC00), the EBDA and 0xF0000-0xFFFFF for the 16-byte
// floating pointer "_MP_"; it then reads the "PCMP" configuration table it points at, which we put
// right after it. 0x9FC00 is where E820Map ends low RAM, so the guest never allocates over either.
// Entries (MP spec chapter 4): one processor per vCPU, one ISA bus, one IOAPIC, ISA IRQs routed
// as on a PC (IRQ0 → pin 2, IRQ2 is the 8259 cascade and has no pin), ExtINT on LINT0, NMI on LINT1.
import GuestMemory

public struct MPTable: Equatable, Sendable {
    /// The first KiB of the conventional EBDA, which Linux scans (its "last KiB of base memory").
    public static let defaultAddress = GuestAddress(0x9_FC00)
    public static let specRevision: UInt8 = 4
    public static let localAPICAddress: UInt32 = 0xFEE0_0000
    public static let localAPICVersion: UInt8 = 0x14
    public static let ioapicAddress: UInt32 = 0xFEC0_0000
    public static let ioapicVersion: UInt8 = 0x11
    /// APIC ids are 8-bit, 0xFF is broadcast, and the IOAPIC takes id `vcpuCount`.
    public static let supportedVCPUs: ClosedRange<Int> = 1...254
    /// Family 6 (bits 11-8 of the CPUID signature), model 0, stepping 0, as Firecracker uses.
    public static let defaultCPUSignature: UInt32 = 0x600
    /// CPUID.1:EDX bits FPU (0) and APIC (9).
    public static let defaultFeatureFlags: UInt32 = 0x201

    // Sizes (MP spec 4.1-4.3).
    public static let floatingPointerSize = 16
    public static let headerSize = 44
    public static let processorEntrySize = 20
    public static let otherEntrySize = 8

    // Entry types and interrupt types.
    static let processorType: UInt8 = 0, busType: UInt8 = 1, ioapicType: UInt8 = 2
    static let ioInterruptType: UInt8 = 3, localInterruptType: UInt8 = 4
    static let intINT: UInt8 = 0, intNMI: UInt8 = 1, intExtINT: UInt8 = 3

    public var vcpuCount: Int
    public var cpuSignature: UInt32
    public var featureFlags: UInt32

    public init(vcpuCount: Int, cpuSignature: UInt32 = defaultCPUSignature,
                featureFlags: UInt32 = defaultFeatureFlags) {
        self.vcpuCount = vcpuCount; self.cpuSignature = cpuSignature; self.featureFlags = featureFlags
    }

    /// The IOAPIC's id: the first APIC id after the processors', as in Firecracker's tables.
    public var ioapicID: UInt8 { UInt8(clamping: vcpuCount) }

    /// ISA IRQ → IOAPIC pin for every I/O interrupt entry: identity except IRQ0 → 2, no IRQ2.
    public static let isaRouting: [ISARoute] = {
        var routes: [ISARoute] = []
        for irq: UInt8 in 0..<16 where irq != 2 { routes.append(ISARoute(irq: irq, pin: irq == 0 ? 2 : irq)) }
        return routes
    }()

    public struct ISARoute: Equatable, Sendable {
        public let irq: UInt8
        public let pin: UInt8
    }

    /// Entries in the configuration table: processors, bus, IOAPIC, I/O interrupts, 2 local ones.
    public var entryCount: Int { vcpuCount + 2 + Self.isaRouting.count + 2 }

    /// Bytes from the floating pointer to the end of the configuration table.
    public var size: Int {
        Self.floatingPointerSize + Self.headerSize + vcpuCount * Self.processorEntrySize
            + (entryCount - vcpuCount) * Self.otherEntrySize
    }

    /// Convenience for `MPTable(vcpuCount:).bytes(at:)`.
    public static func bytes(vcpuCount: Int, at address: GuestAddress = defaultAddress) throws(FirmwareTableError) -> [UInt8] {
        try MPTable(vcpuCount: vcpuCount).bytes(at: address)
    }

    /// The floating pointer at `address` (16-byte aligned, below 4 GiB) followed by the
    /// configuration table.
    public func bytes(at address: GuestAddress = defaultAddress) throws(FirmwareTableError) -> [UInt8] {
        guard Self.supportedVCPUs.contains(vcpuCount) else {
            throw .vcpuCountOutOfRange(vcpuCount, supported: Self.supportedVCPUs)
        }
        guard address.isAligned(to: 16) else { throw .misaligned(address, alignment: 16) }
        // Both pointers in the tables are 32-bit physical addresses.
        guard let range = GuestRange(start: address, length: UInt64(size)), range.last.raw <= UInt64(UInt32.max) else {
            throw .memory(.invalidRange(start: address, length: UInt64(size)))
        }
        // Cannot wrap: the whole range, configuration table included, ends below 4 GiB.
        let configAddress = UInt32(truncatingIfNeeded: address.raw) &+ UInt32(Self.floatingPointerSize)
        return floatingPointer(configAddress: configAddress) + configurationTable()
    }

    /// Writes the tables at `address`; returns the range written (outside e820 RAM at the default
    /// address, so it needs no reservation).
    @discardableResult
    public func write(into memory: GuestMemoryMap, at address: GuestAddress = defaultAddress) throws(FirmwareTableError) -> GuestRange {
        let table = try bytes(at: address)
        guard let range = GuestRange(start: address, length: UInt64(table.count)), memory.isValid(range) else {
            throw .memory(.outOfBounds(address: address, length: UInt64(table.count)))
        }
        do { try memory.write(table, at: address) } catch { throw .memory(error) }
        return range
    }

    // MARK: - Structures

    /// MP floating pointer structure (MP spec 4.1): "_MP_", physical address of the configuration
    /// table, length in 16-byte units (1), spec revision, checksum, feature bytes all 0 (a
    /// configuration table is present; IMCR absent, i.e. virtual-wire mode).
    func floatingPointer(configAddress: UInt32) -> [UInt8] {
        var out = LittleEndianBytes(count: Self.floatingPointerSize)
        out.put(Array("_MP_".utf8), at: 0)
        out.put(configAddress, at: 4)
        out.put(UInt8(1), at: 8)
        out.put(Self.specRevision, at: 9)
        out.put(ACPITables.checksum(out.bytes), at: 10)
        return out.bytes
    }

    /// MP configuration table header (MP spec 4.2) and base entries; no extended entries.
    func configurationTable() -> [UInt8] {
        var entries: [UInt8] = []
        for index in 0..<vcpuCount {
            var cpu = LittleEndianBytes(count: Self.processorEntrySize)
            cpu.put(Self.processorType, at: 0)
            cpu.put(UInt8(truncatingIfNeeded: index), at: 1)             // local APIC id
            cpu.put(Self.localAPICVersion, at: 2)
            cpu.put(UInt8(index == 0 ? 0x3 : 0x1), at: 3)               // EN, and BP on the BSP
            cpu.put(cpuSignature, at: 4)
            cpu.put(featureFlags, at: 8)
            entries += cpu.bytes
        }
        entries += [Self.busType, 0] + Array("ISA   ".utf8)
        entries += [Self.ioapicType, ioapicID, Self.ioapicVersion, 1] + AML.littleEndian(UInt64(Self.ioapicAddress), count: 4)
        // Flags 0: polarity and trigger conform to the bus (ISA: edge, active high).
        for route in Self.isaRouting {
            entries += [Self.ioInterruptType, Self.intINT, 0, 0, 0, route.irq, ioapicID, route.pin]
        }
        // The 8259's output on the BSP's LINT0 (virtual wire); NMI on every processor's LINT1.
        entries += [Self.localInterruptType, Self.intExtINT, 0, 0, 0, 0, 0, 0]
        entries += [Self.localInterruptType, Self.intNMI, 0, 0, 0, 0, 0xFF, 1]

        var header = LittleEndianBytes(count: Self.headerSize)
        header.put(Array("PCMP".utf8), at: 0)
        header.put(UInt16(truncatingIfNeeded: Self.headerSize + entries.count), at: 4)   // ≤ 5,284 bytes
        header.put(Self.specRevision, at: 6)
        header.put(ACPITables.padded("SWIFTVMM", to: 8), at: 8)       // OEM id
        header.put(ACPITables.padded("SWIFTVMM", to: 12), at: 16)     // product id
        header.put(UInt16(truncatingIfNeeded: entryCount), at: 34)
        header.put(Self.localAPICAddress, at: 36)
        let table = header.bytes + entries
        var withSum = LittleEndianBytes(count: table.count)
        withSum.put(table, at: 0)
        withSum.put(ACPITables.checksum(table), at: 7)
        return withSum.bytes
    }
}
