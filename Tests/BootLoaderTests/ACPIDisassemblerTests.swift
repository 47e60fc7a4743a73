// Cross-check against ACPICA's own disassembler: `iasl -d` parses each table as Linux's ACPICA
// would and complains about bad lengths, checksums or AML. iasl comes from acpica-tools, which
// scripts/install-deps.sh installs; a missing iasl is a failure, not a skip, so a machine without
// it cannot pass these checks unnoticed.
import BootLoader
import Foundation
import Testing

@Suite struct ACPIDisassemblerTests {
    static func iaslPath() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/bin", "/usr/local/bin"]
        return dirs.map { $0 + "/iasl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `iasl -d <file>` in `dir`; returns the exit status, its output and the .dsl text.
    static func disassemble(_ bytes: [UInt8], name: String, in dir: URL, iasl: String) throws -> (Int32, String, String) {
        let file = dir.appendingPathComponent(name + ".dat")
        try Data(bytes).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: iasl)
        process.arguments = ["-d", file.path]
        process.currentDirectoryURL = dir
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let dsl = (try? String(contentsOf: dir.appendingPathComponent(name + ".dsl"), encoding: .utf8)) ?? ""
        return (process.terminationStatus, output, dsl)
    }

    @Test func iaslAcceptsEveryTable() throws {
        guard let iasl = Self.iaslPath() else {
            Issue.record("iasl not found: install acpica-tools (scripts/install-deps.sh does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swift-vmm-acpi-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        var config = sampleACPIConfig
        config.describeI8042 = true
        config.powerButtonGSI = 15
        let image = try ACPITables.build(config)
        var listings: [String: String] = [:]
        // The RSDP has no SDT header, so `iasl -d` cannot take it as a file; the unit tests cover it.
        for signature in image.entries.map(\.signature) where signature != "RSDP" {
            let table = try #require(image.table(signature))
            let (status, output, dsl) = try Self.disassemble(table, name: signature.lowercased(), in: dir, iasl: iasl)
            let text = (output + dsl).lowercased()
            #expect(status == 0, "iasl -d \(signature): \(output)")
            #expect(!dsl.isEmpty, "no listing for \(signature): \(output)")
            for bad in ["error", "checksum mismatch", "incorrect checksum", "invalid", "unknown", "could not", "ae_aml"] {
                #expect(!text.contains(bad), "\(signature): '\(bad)' in\n\(output)\n\(dsl)")
            }
            listings[signature] = dsl
        }
        let dsdt = listings["DSDT"] ?? ""
        #expect(dsdt.contains("PNP0501"))
        #expect(dsdt.contains("_S5_"))
        #expect(dsdt.contains("LNRO0005") && dsdt.contains("VR01"))
        #expect(dsdt.contains("0x03F8") && dsdt.contains("{4}"))
        #expect(dsdt.contains("0xD0001000"))
        // The power button: the Generic Event Device, its register and _EVT, as ACPICA reads them.
        #expect(dsdt.contains("Device (GED0)") && dsdt.contains("\"ACPI0013\""), "\(dsdt)")
        #expect(dsdt.contains("0x0000000F"), "GED interrupt GSI 15: \(dsdt)")
        #expect(dsdt.contains("OperationRegion (GDST, SystemIO, 0x03C4, One)"), "\(dsdt)")
        #expect(dsdt.contains("Field (GDST, ByteAcc, NoLock, WriteAsZeros)") && dsdt.contains("GDAT,   8"), "\(dsdt)")
        #expect(dsdt.contains("Method (_EVT, 1, Serialized)"), "\(dsdt)")
        #expect(dsdt.contains("Local0 = GDAT") || dsdt.contains("Store (GDAT, Local0)"), "\(dsdt)")
        #expect(dsdt.contains("Notify (PWRB, 0x80)") || dsdt.contains("Notify (\\_SB.PWRB, 0x80)"), "\(dsdt)")
        #expect(dsdt.contains("Device (PWRB)") && dsdt.contains("PNP0C0C"), "\(dsdt)")
        #expect(listings.keys.sorted() == ["APIC", "DSDT", "FACP", "XSDT"])
        let fadt = listings["FACP"] ?? ""
        #expect(fadt.contains("Hardware Reduced (V5) : 1"))
        #expect(fadt.contains("00000000000003C0") && fadt.contains("00000000000003C1"))
        let madt = listings["APIC"] ?? ""
        #expect(madt.contains("FEC00000") && madt.contains("Processor Local APIC"))
    }
}
