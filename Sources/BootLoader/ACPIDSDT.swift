// The DSDT: the devices Linux cannot discover on a hardware-reduced machine. In ASL:
//
//   Scope (\_SB) {
//     Device (COM1) {                     // the 8250 at 0x3F8; without it the PNP 8250 driver
//       Name (_HID, EISAID ("PNP0501"))   // has no IRQ and user-space console writes fail
//       Name (_UID, One)
//       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 0, 8)  IRQNoFlags () {4} })
//     }
//     Device (PS2K) { ... }               // only with describeI8042: PNP0303, 0x60, 0x64, IRQ 1
//     Device (VR00) {                     // one per virtio-mmio transport
//       Name (_HID, "LNRO0005")
//       Name (_UID, 0)
//       Name (_CRS, ResourceTemplate () {
//         Memory32Fixed (ReadWrite, base, size)
//         Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { irq } })
//     }
//     Device (GED0) {                     // only with powerButtonGSI: the Generic Event Device
//       Name (_HID, "ACPI0013")           // (Linux's evged) runs _EVT when its interrupt fires
//       Name (_UID, Zero)
//       Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } })
//       OperationRegion (GDST, SystemIO, 0x3C4, 1)
//       Field (GDST, ByteAcc, NoLock, WriteAsZeros) { GDAT, 8 }
//       Method (_EVT, 1, Serialized) {    // Arg0: the GSI; reading GDAT clears the events
//         Store (GDAT, Local0)
//         If (And (Local0, One)) { Notify (\_SB.PWRB, 0x80) }   // 0x80: button pressed
//       }
//     }
//     Device (PWRB) { Name (_HID, EISAID ("PNP0C0C")) Name (_UID, Zero) }
//   }
//   Name (_S5, Package () { 5, 0 })      // SLP_TYPa/b for power-off (see ACPIPorts)
extension ACPITables {
    public static let com1Base: UInt16 = 0x3F8
    public static let com1IRQ: UInt32 = 4
    /// The ACPI id Linux's virtio_mmio driver matches (virtio_mmio_acpi_match).
    public static let virtioMMIOHardwareID = "LNRO0005"

    public static func dsdt(_ config: ACPIConfiguration) throws(AMLError) -> [UInt8] {
        var devices: [[UInt8]] = [try com1()]
        if config.describeI8042 { devices.append(try i8042()) }
        for (index, device) in config.virtioMMIO.enumerated() {
            devices.append(try virtioMMIO(index: index, device, trigger: config.virtioTrigger))
        }
        if let gsi = config.powerButtonGSI { devices += try powerButton(gsi: gsi) }
        let body = try AML.scope("\\_SB", devices)
            + (try AML.name("_S5", try AML.package([AML.integer(UInt64(ACPIPorts.s5SleepType)), AML.integer(0)])))
        return table("DSDT", revision: dsdtRevision, oemTableID: "SVMMDSDT", body: body)
    }

    static func com1() throws(AMLError) -> [UInt8] {
        try AML.device("COM1", [
            try AML.name("_HID", try AML.eisaID("PNP0501")),
            try AML.name("_UID", AML.integer(1)),
            try AML.name("_CRS", try AMLResource.template([
                AMLResource.io(minimum: com1Base, maximum: com1Base, alignment: 0, length: 8),
                try AMLResource.irqNoFlags([com1IRQ]),
            ])),
        ])
    }

    /// The keyboard controller as a PC BIOS describes it: data port 0x60, command/status 0x64, IRQ 1.
    static func i8042() throws(AMLError) -> [UInt8] {
        try AML.device("PS2K", [
            try AML.name("_HID", try AML.eisaID("PNP0303")),
            try AML.name("_CRS", try AMLResource.template([
                AMLResource.io(minimum: 0x60, maximum: 0x60, alignment: 0, length: 1),
                AMLResource.io(minimum: 0x64, maximum: 0x64, alignment: 0, length: 1),
                try AMLResource.irqNoFlags([1]),
            ])),
        ])
    }

    /// Device VRxx; callers validated that base + size fits in 32 bits and the index in a byte.
    static func virtioMMIO(index: Int, _ device: ACPIConfiguration.VirtioMMIODevice,
                           trigger: AMLResource.Trigger) throws(AMLError) -> [UInt8] {
        let hex = Array("0123456789ABCDEF")
        let name = "VR" + String(hex[(index >> 4) & 0xF]) + String(hex[index & 0xF])
        return try AML.device(name, [
            try AML.name("_HID", try AML.string(virtioMMIOHardwareID)),
            try AML.name("_UID", AML.integer(UInt64(index))),
            try AML.name("_CRS", try AMLResource.template([
                AMLResource.memory32Fixed(base: UInt32(truncatingIfNeeded: device.base),
                                          length: UInt32(truncatingIfNeeded: device.size)),
                try AMLResource.interrupt([device.irq], trigger: trigger),
            ])),
        ])
    }

    /// The Generic Event Device and the power button it notifies (see the ASL above).
    static func powerButton(gsi: UInt32) throws(AMLError) -> [[UInt8]] {
        let ged = try AML.device("GED0", [
            try AML.name("_HID", try AML.string("ACPI0013")),
            try AML.name("_UID", AML.integer(0)),
            try AML.name("_CRS", try AMLResource.template([try AMLResource.interrupt([gsi], trigger: .edge)])),
            try AML.operationRegion("GDST", space: .systemIO, offset: UInt64(ACPIPorts.genericEventStatus), length: 1),
            try AML.field("GDST", access: .byte, update: .writeAsZeros, [(name: "GDAT", bits: 8)]),
            try AML.method("_EVT", argumentCount: 1, serialized: true, [
                AML.store(try AML.reference("GDAT"), into: AML.local(0)),
                try AML.ifThen(AML.and(AML.local(0), AML.integer(UInt64(ACPIPorts.powerButtonEvent))), [
                    try AML.notify("\\_SB.PWRB", 0x80),
                ]),
            ]),
        ])
        let button = try AML.device("PWRB", [
            try AML.name("_HID", try AML.eisaID("PNP0C0C")),
            try AML.name("_UID", AML.integer(0)),
        ])
        return [ged, button]
    }
}
