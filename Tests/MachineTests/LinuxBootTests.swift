// A real Linux (shared/guest-kernel: 6.1 with the microVM config) booted to its initramfs's /init
// under MicroVM. One boot serves every check: boots cost tens of seconds on hosts whose
// KVM interprets guest kernel code.
import BootLoader
import Foundation
import Machine
import Testing
import TestSupport

/// ../shared/guest-kernel/vmlinux beside the checkout (guest-kernel/build.sh rebuilds it).
func guestKernelPath() -> String {
    GuestPrograms.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/guest-kernel/vmlinux").path
}

/// Builds guests/linux/init.c statically and packs it with /dev/console into an uncompressed cpio.
/// `busybox`: also /bin/busybox from the host (Debian's busybox-static), for udhcpc.
func buildTestInitramfs(busybox: Bool = false) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swift-vmm-initramfs-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let root = GuestPrograms.packageRoot
    let initBinary = dir.appendingPathComponent("init").path
    let cpio = dir.appendingPathComponent("initrd.cpio").path
    try runTool("/usr/bin/env", ["gcc", "-static", "-Os", "-o", initBinary, root.appendingPathComponent("guests/linux/init.c").path])
    try runTool("/usr/bin/env", ["python3", root.appendingPathComponent("scripts/mkinitramfs.py").path, cpio,
                                 "--dir", "/dev", "--dir", "/proc", "--dir", "/sys", "--char", "/dev/console=5:1",
                                 "--char", "/dev/mem=1:1", "--file", "/init=\(initBinary)"]
                                 + (busybox ? ["--dir", "/bin", "--file", "/bin/busybox=/bin/busybox"] : []))
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: cpio)))
}

func runTool(_ path: String, _ arguments: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    try p.run()
    p.waitUntilExit()
    if p.terminationStatus != 0 { throw VMMNotBuilt(description: "\(arguments.first ?? path) failed with status \(p.terminationStatus)") }
}

/// A host tool the test needed failed.
struct ToolError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Standard output of a tool that must succeed (stderr is discarded).
func toolOutput(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ToolError(message: "\(path) \(arguments) exited \(process.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}

/// Bytes the file occupies on the host (st_blocks × 512): drops when a discard punches a hole.
func allocatedBytes(_ path: String) throws -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { throw ToolError(message: "stat \(path): errno \(errno)") }
    return Int(st.st_blocks) * 512
}

/// Runs the machine; a boot that stops making progress fails the test instead of hanging the suite.
func runWithWatchdog(_ config: MachineConfiguration, seconds: Int = 240,
                     started: (@Sendable (MicroVM) -> Void)? = nil) throws -> MachineExit {
    let vm = try MicroVM(configuration: config)
    started?(vm)
    DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { [weak vm] in
        vm?.requestStop(.stopped(reason: "watchdog: no exit after \(seconds) s"))
    }
    return try vm.run()
}

// Serialized: two Linux boots at once on a 2-core machine would only slow both.
@Suite(.serialized, .enabled(if: KVMAvailability.available, kvmReason))
struct LinuxBootTests {
    @Test(.timeLimit(.minutes(5)))
    func guestKernelBootsToInitWithACPIAndTwoVCPUs() throws {
        let kernelPath = guestKernelPath()
        guard let kernel = FileManager.default.contents(atPath: kernelPath) else {
            Issue.record("guest kernel missing at \(kernelPath): build it with guest-kernel/build.sh")
            return
        }
        let cmdline = "console=ttyS0 mitigations=off panic=-1 swifttest_end=cad"
        let capture = SerialCapture()
        let bootLines = SerialCapture()
        var config = MachineConfiguration(memorySize: 256 << 20, vcpuCount: 2,
                                          image: .linux(kernel: [UInt8](kernel), initrd: try buildTestInitramfs(), cmdline: cmdline),
                                          cpuTemplate: .nestedEmulator, serialSink: capture.sink)
        config.bootTimerLog = { line in for b in (line + "\n").utf8 { bootLines.sink(b) } }
        // Graceful shutdown: once init waits, press Ctrl-Alt-Del on the emulated i8042 keyboard.
        let exit = try runWithWatchdog(config) { vm in
            DispatchQueue.global().async { [weak vm] in
                while let vm, !capture.text.contains("SWIFT-VMM-WAITING-FOR-CAD") { usleep(100_000); _ = vm }
                while let vm, !vm.sendCtrlAltDel() { usleep(10_000) }
            }
        }
        let log = capture.text
        #expect(log.contains("SWIFT-VMM-GOT-SIGINT"), "Ctrl-Alt-Del reached init as SIGINT")
        #expect(exit == .poweredOff, "init powers off through ACPI S5: \(exit)")
        #expect(log.contains("SWIFT-VMM-INIT-OK pid=1"), "user space ran: \(log.suffix(2000))")
        // The kernel's view of what the VMM configured.
        #expect(log.contains("Command line: \(cmdline) noxsave clearcpuid=popcnt,smap"))
        #expect(log.contains("SWIFT-VMM-CMDLINE: \(cmdline) noxsave clearcpuid=popcnt,smap"))
        #expect(log.contains("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"))
        #expect(log.contains("BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable"))
        #expect(log.contains("ACPI: RSDP 0x00000000000E0000"))
        #expect(log.contains("ACPI: Using ACPI (MADT) for SMP configuration information"))
        #expect(log.contains("smp: Brought up 1 node, 2 CPUs"))
        #expect(log.contains("SWIFT-VMM-CPUS: 0-1"))
        #expect(log.contains("kvm-clock"), "the KVM paravirtual clock is offered")
        // Found through the DSDT's COM1 (PNP0501); its GSI 4 gets a dynamic Linux IRQ number under
        // hardware-reduced ACPI, and interrupt-driven output working is what init's lines prove.
        #expect(log.contains("00:00: ttyS0 at I/O 0x3f8"))
        #expect(log.contains("ACPI: PM: Preparing to enter system sleep state S5"))
        // Firecracker's boot-time device, written by init through /dev/mem.
        #expect(bootLines.text.contains("Guest-boot-time = "), "boot-time line: \(bootLines.text)")
    }

    @Test(.timeLimit(.minutes(5)))
    func guestKernelWithoutACPIFindsBothVCPUsInTheMPTable() throws {
        let kernelPath = guestKernelPath()
        guard let kernel = FileManager.default.contents(atPath: kernelPath) else {
            Issue.record("guest kernel missing at \(kernelPath): build it with guest-kernel/build.sh")
            return
        }
        let cmdline = "console=ttyS0 mitigations=off acpi=off panic=-1 reboot=k swifttest_end=reboot"
        let capture = SerialCapture()
        let config = MachineConfiguration(memorySize: 256 << 20, vcpuCount: 2,
                                          image: .linux(kernel: [UInt8](kernel), initrd: try buildTestInitramfs(), cmdline: cmdline),
                                          cpuTemplate: .nestedEmulator, serialSink: capture.sink)
        let exit = try runWithWatchdog(config)
        let log = capture.text
        #expect(exit == .reset, "without ACPI init reboots; reboot=k makes that an i8042 reset")
        #expect(log.contains("Intel MultiProcessor Specification v1.4"), "MP table found: \(log.prefix(3000))")
        #expect(log.contains("smp: Brought up 1 node, 2 CPUs"))
        #expect(log.contains("SWIFT-VMM-CPUS: 0-1"))
    }

    /// The same kernel through the `vmm` binary as a user runs it: one vCPU, `--boot-timer`, serial
    /// on stdout, virtio-rng and two virtio-blk disks (read-write and read-only) driven by Linux's own
    /// drivers, clean power-off as exit status 0, and the guest's write found in the image file; a
    /// virtio console on a Unix socket carries a line each way (/dev/hvc0 in the guest).
    @Test(.timeLimit(.minutes(5)))
    func vmmBinaryBootsTheGuestKernelWithVirtioDevices() throws {
        let kernelPath = guestKernelPath()
        guard FileManager.default.fileExists(atPath: kernelPath) else {
            Issue.record("guest kernel missing at \(kernelPath): build it with guest-kernel/build.sh")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-virtio-test-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let initrd = dir.appendingPathComponent("initrd.cpio")
        try Data(try buildTestInitramfs()).write(to: initrd)
        let vda = dir.appendingPathComponent("vda.img"), vdb = dir.appendingPathComponent("vdb.img")
        var image = Data("SWIFT-VMM-DISK-MARKER".utf8)
        image.append(Data(count: (8 << 20) - image.count))
        try image.write(to: vda)
        try Data(count: 8 << 20).write(to: vdb)
        // vdc: ext4 made on the host over non-zero bytes (mkfs told not to discard), so the blocks
        // the file system leaves free are allocated in the image until the guest's FITRIM punches them.
        let vdc = dir.appendingPathComponent("vdc.img")
        try Data(repeating: 0xA5, count: 32 << 20).write(to: vdc)
        try runTool("/sbin/mkfs.ext4", ["-q", "-F", "-E", "nodiscard", "-b", "4096", vdc.path])
        let allocatedBefore = try allocatedBytes(vdc.path)
        // virtio-console on a Unix socket: init writes a marker to /dev/hvc0, the client answers
        // with a line, init prints it on COM1 and echoes it on hvc0.
        let consoleSocket = dir.appendingPathComponent("hvc.sock").path
        let hvc = ConsoleSocketExchange(path: consoleSocket, waitFor: "SWIFT-VMM-HVC-READY", send: "hello-hvc\n")
        let r = try runVMM(["run", "--kernel", kernelPath, "--initrd", initrd.path, "--memory", "256", "--cpus", "1",
                            "--cpu-template", "nested-emulator", "--boot-timer", "--serial-input", "none", "--rng",
                            "--disk", "path=\(vda.path),serial=disk0", "--disk", "path=\(vdb.path),readonly=on",
                            "--disk", "path=\(vdc.path)", "--console", "socket=\(consoleSocket)",
                            "--cmdline", "console=ttyS0 mitigations=off panic=-1 swifttest_virtio=1 swifttest_console=1"])
        #expect(hvc.wait(), "the console client ends when vmm closes the socket")
        #expect(hvc.text.contains("SWIFT-VMM-HVC-READY"), "guest output reached the socket: \(hvc.text)")
        #expect(hvc.didSend)
        #expect(r.stdout.contains("SWIFT-VMM-HVC-GOT: hello-hvc\r\n"), "the line reached the guest's /dev/hvc0")
        #expect(hvc.text.contains("SWIFT-VMM-HVC-ECHO: hello-hvc"), "and its answer came back: \(hvc.text)")
        #expect(!FileManager.default.fileExists(atPath: consoleSocket), "the socket is removed on exit")
        #expect(r.status == 0, "powered off cleanly: \(r.stderr)")
        #expect(r.stdout.contains("SWIFT-VMM-INIT-OK pid=1"))
        #expect(r.stdout.contains("SWIFT-VMM-CPUS: 0\r\n"), "one vCPU (the tty turns \\n into \\r\\n)")
        #expect(r.stdout.contains("SWIFT-VMM-BOOTTIME: written"))
        #expect(r.stderr.contains("Guest-boot-time = "), "Firecracker's boot-time line on stderr: \(r.stderr)")
        // virtio-rng: 16 bytes, not all zero.
        #expect(r.stdout.contains("SWIFT-VMM-HWRNG: ") && !r.stdout.contains("SWIFT-VMM-HWRNG: 00000000000000000000000000000000")
                && !r.stdout.contains("SWIFT-VMM-HWRNG: failed"))
        // virtio-blk: the guest read the host's marker, wrote and fsync'd; the read-only disk refused.
        #expect(r.stdout.contains("SWIFT-VMM-VDA: SWIFT-VMM-DISK-MARKER"))
        #expect(r.stdout.contains("SWIFT-VMM-VDA-WRITE: ok"))
        #expect(r.stdout.contains("SWIFT-VMM-VDB-WRITE: refused"))
        let after = try Data(contentsOf: vda)
        #expect(after[4096..<4112] == Data("GUEST-WROTE-THIS".utf8), "the guest's write reached the image file")
        #expect(try Data(contentsOf: vdb) == Data(count: 8 << 20), "the read-only image is unchanged")
        // ext4: mounted, written and fsync'd by Linux; the host reads the file back with debugfs and
        // fsck finds the file system clean; the guest's discards made the image sparser.
        #expect(r.stdout.contains("SWIFT-VMM-EXT4: mounted"))
        #expect(r.stdout.contains("SWIFT-VMM-EXT4-WRITE: ok"))
        #expect(r.stdout.contains("SWIFT-VMM-EXT4-UMOUNT: ok"))
        let trimmed = r.stdout.components(separatedBy: "SWIFT-VMM-FITRIM: ").dropFirst().first?
            .prefix { $0.isNumber }
        #expect(Int(trimmed ?? "") ?? 0 > 16 << 20, "FITRIM discarded the free space: \(r.stdout.suffix(800))")
        let hello = try toolOutput("/sbin/debugfs", ["-R", "cat /hello.txt", vdc.path])
        #expect(hello == "written by the guest through virtio-blk\n", "debugfs read: \(hello)")
        _ = try toolOutput("/sbin/e2fsck", ["-f", "-n", vdc.path])
        let allocatedAfter = try allocatedBytes(vdc.path)
        #expect(allocatedAfter + (16 << 20) < allocatedBefore,
                "discard punched holes: \(allocatedBefore) bytes allocated before, \(allocatedAfter) after")
    }

    /// Debian's stock cloud kernel (fetched by scripts/fetch-stock-kernel.sh, never committed) with 2
    /// vCPUs. On hosts whose KVM interprets guest kernel code it stops where QEMU stops too (the
    /// kernel's int3 self-test after "x86/fpu: x87 FPU will use FXSAVE"): vmm must end with a
    /// diagnosis, not hang. Elsewhere it boots on and panics for want of a root disk.
    @Test(.timeLimit(.minutes(5)))
    func stockKernelPrintsItsBootLogAndEndsWithADiagnosis() throws {
        let path = GuestPrograms.packageRoot.appendingPathComponent(".cache/stock-kernel/vmlinux").path
        try runTool("/bin/bash", [GuestPrograms.packageRoot.appendingPathComponent("scripts/fetch-stock-kernel.sh").path])
        let kernel = try #require(FileManager.default.contents(atPath: path), "fetch-stock-kernel.sh made no \(path)")
        let cmdline = "console=ttyS0 earlyprintk=ttyS0 mitigations=off nokaslr init_on_alloc=0 acpi=off panic=-1 reboot=k"
        let capture = SerialCapture()
        let config = MachineConfiguration(memorySize: 256 << 20, vcpuCount: 2,
                                          image: .linux(kernel: [UInt8](kernel), initrd: nil, cmdline: cmdline),
                                          cpuTemplate: .nestedEmulator, serialSink: capture.sink)
        let exit = try runWithWatchdog(config)
        let log = capture.text
        #expect(log.contains("Linux version 6.1"), "the banner: \(log.prefix(500))")
        #expect(log.contains("Command line: \(cmdline)"))
        #expect(log.contains("BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable"))
        switch exit {
        case let .guestError(diagnosis):
            // This host: the emulator cannot run the int3 self-test, exactly where QEMU stops.
            #expect(log.contains("x86/fpu: x87 FPU will use FXSAVE"))
            #expect(diagnosis.contains("emulation failure"))
            #expect(diagnosis.contains("RIP 0x") && diagnosis.contains("instruction bytes cc"), "\(diagnosis)")
        case .reset:
            // Hardware virtualization: no root disk, panic, panic=-1 reboots through the i8042.
            #expect(log.contains("VFS: Unable to mount root fs"))
        default:
            Issue.record("unexpected end: \(exit); last output: \(log.suffix(1500))")
        }
    }
}
