// Boot-protocol probes (guests/probe/): tiny kernels, one per protocol the Linux loader speaks
// (PVH, the 64-bit boot protocol from an ELF and from a bzImage, multiboot from an ELF and from its
// address fields), that check their entry state and every boot-structure field they rely on from
// inside the guest and report 0x10, or the failed check's code, through the debug-exit port.
// The probes assert on what the guest saw, not on what the loader meant to write.
import BootLoader
import Foundation
import GuestMemory
import Machine
import Testing
import TestSupport

/// What each probe failure code means; the same table as the headers of guests/probe/*.S.
enum ProbeCheck {
    static let passed: UInt32 = 0x10
    static let names: [UInt32: String] = [
        // probe_pvh.S
        0x21: "PVH: CR0.PE clear", 0x22: "PVH: CR0.PG set", 0x23: "PVH: EFLAGS.IF set",
        0x24: "PVH: ebx is not hvm_start_info (magic)", 0x25: "PVH: start_info version < 1",
        0x26: "PVH: nr_modules != 1", 0x27: "PVH: module paddr 0", 0x28: "PVH: module size 0",
        0x29: "PVH: cmdline missing or not \"probe...\"", 0x2A: "PVH: memmap_entries 0",
        0x2B: "PVH: no RAM memmap entry at 0", 0x2C: "PVH: no RAM memmap entry at 1 MiB",
        0x2D: "PVH: rsdp_paddr != 0xE0000", 0x2E: "PVH: no \"RSD PTR \" at rsdp_paddr",
        // boot_params_checks.inc (probe_boot_params.S, probe_bzimage.S)
        0x31: "64-bit: EFER.LMA clear", 0x32: "64-bit: CS != __BOOT_CS or DS/ES/SS != __BOOT_DS",
        0x33: "64-bit: EFLAGS.IF set", 0x34: "64-bit: rsi is 0", 0x35: "boot_params: header != \"HdrS\"",
        0x36: "boot_params: type_of_loader 0", 0x37: "boot_params: cmd_line_ptr missing or not \"probe...\"",
        0x38: "boot_params: e820_entries 0", 0x39: "boot_params: no RAM e820 entry at 0",
        0x3A: "boot_params: ramdisk_image 0", 0x3B: "boot_params: ramdisk_size 0",
        0x3C: "boot_params: acpi_rsdp_addr != 0xE0000",
        // probe_bzimage.S
        0x41: "bzImage: startup_64 not at 0x100200", 0x42: "bzImage: setup header not copied into boot_params",
        0x43: "bzImage: loadflags lacks LOADED_HIGH",
        // probe_multiboot.S
        0x51: "multiboot: eax != 0x2BADB002", 0x52: "multiboot: not protected mode with paging off",
        0x53: "multiboot: EFLAGS.IF set", 0x54: "multiboot: info flags lack MEM/CMDLINE/MODS/MMAP",
        0x55: "multiboot: mem_lower 0 or > 640", 0x56: "multiboot: mem_upper < 1024",
        0x57: "multiboot: cmdline missing or not \"probe...\"", 0x58: "multiboot: mods_count != 1",
        0x59: "multiboot: module empty", 0x5A: "multiboot: mmap_length 0",
        0x5B: "multiboot: no RAM mmap entry at 0", 0x5C: "multiboot: no \"RSD PTR \" at 0xE0000",
    ]

    /// "passed", the failed check's name, or how the machine ended otherwise.
    static func describe(_ exit: MachineExit) -> String {
        guard case let .debugExit(code) = exit else { return "no debug exit: \(exit)" }
        if code == passed { return "passed" }
        return names[code].map { "failed check 0x\(String(code, radix: 16)): \($0)" } ?? "unknown code \(code)"
    }
}

struct ProbeCase: CustomTestStringConvertible, Sendable {
    let program: GuestProgram
    let expected: LinuxBootProtocol
    var testDescription: String { "\(program.rawValue) via \(expected)" }

    func kernel() throws -> [UInt8] {
        program.hasELF ? try GuestPrograms.elfBytes(program) : try GuestPrograms.flatBytes(program)
    }
}

let probeCases = [
    ProbeCase(program: .probePVH, expected: .pvh),
    ProbeCase(program: .probeBootParams, expected: .elf64),
    ProbeCase(program: .probeBzImage, expected: .bzImage64),
    ProbeCase(program: .probeMultiboot, expected: .multiboot),
    ProbeCase(program: .probeMultibootAOut, expected: .multiboot),
]
let probeCmdline = "probe=1 console=ttyS0"
/// An initrd the probes only check for presence (address and size non-zero).
let probeInitrd = [UInt8](repeating: 0xA5, count: 8192)

/// The loader's choice of protocol, without KVM: each probe must exercise the protocol it is named for.
@Suite struct ProbeProtocolTests {
    @Test(arguments: probeCases)
    func loaderPicksTheProbesProtocol(_ probe: ProbeCase) throws {
        let memory = try GuestMemoryMap.anonymous(size: 64 << 20)
        let result = try LinuxLoader.load(kernel: try probe.kernel(), initrd: probeInitrd, cmdline: probeCmdline,
                                          memory: memory)
        #expect(result.bootProtocol == probe.expected)
    }
}

@Suite(.enabled(if: KVMAvailability.available, kvmReason))
struct ProbeKernelTests {
    @Test(arguments: probeCases)
    func probeSeesACorrectEntryState(_ probe: ProbeCase) throws {
        let image = BootImage.linux(kernel: try probe.kernel(), initrd: probeInitrd, cmdline: probeCmdline)
        let config = MachineConfiguration(memorySize: 64 << 20, image: image, serialSink: { _ in })
        // A probe runs ~100 instructions; the watchdog only turns a hang into a failure.
        let exit = try runWithWatchdog(config, seconds: 30)
        #expect(exit == .debugExit(ProbeCheck.passed), "\(probe.testDescription): \(ProbeCheck.describe(exit))")
    }

    /// The checks are live: a boot missing what a check looks for gets that check's code, not 0x10.
    @Test(arguments: [
        (GuestProgram.probePVH, nil as String?, UInt32(0x26)),          // no initrd: nr_modules 0
        (.probeBootParams, "console=ttyS0", 0x37),                      // cmdline not "probe..."
        (.probeBzImage, nil, 0x3A),                                     // no initrd: ramdisk_image 0
        (.probeMultiboot, nil, 0x58),                                   // no initrd: mods_count 0
        (.probeMultibootAOut, "noprobe", 0x57),                         // cmdline not "probe..."
    ])
    func probeReportsTheFailedCheck(_ program: GuestProgram, cmdline: String?, expected: UInt32) throws {
        let kernel = try ProbeCase(program: program, expected: .pvh).kernel()
        let image = BootImage.linux(kernel: kernel, initrd: cmdline == nil ? nil : probeInitrd,
                                    cmdline: cmdline ?? probeCmdline)
        let exit = try runWithWatchdog(MachineConfiguration(memorySize: 64 << 20, image: image, serialSink: { _ in }),
                                       seconds: 30)
        #expect(exit == .debugExit(expected), "\(program.rawValue): \(ProbeCheck.describe(exit))")
    }

    /// The same through the binary as a user runs it: exit status (0x10 << 1) | 1.
    @Test func multibootProbeThroughVMMBinary() throws {
        let initrd = FileManager.default.temporaryDirectory.appendingPathComponent("probe-initrd-\(getpid())")
        try Data(probeInitrd).write(to: initrd)
        defer { try? FileManager.default.removeItem(at: initrd) }
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.probeMultiboot), "--initrd", initrd.path,
                            "--cmdline", probeCmdline, "--memory", "64"])
        let code = UInt32(r.status) >> 1
        #expect(r.status == Int32((ProbeCheck.passed << 1) | 1),
                "status \(r.status): \(ProbeCheck.describe(.debugExit(code))); stderr: \(r.stderr)")
    }
}
