// `vmm run`: boot a guest image, copy its serial output to stdout, exit with the guest's status.
import ArgumentParser
import BootLoader
import Glibc
import GuestMemory
import Logging
import Machine
import VirtioDevices

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a guest image.",
        discussion: """
        The image is a static ELF (ELF64 entered in long mode, ELF32 in protected mode) or a flat \
        binary. COM1 output goes to stdout. Exit status: 0 when the guest powers off or every vCPU \
        halts; (v << 1) | 1 when it writes v to the debug-exit port 0xf4 (as QEMU's isa-debug-exit); \
        2 when the guest dies (triple fault, KVM internal error: a one-line diagnosis goes to stderr); \
        3 when stopped by SIGINT/SIGTERM; 1 when the VMM itself fails; 64 for bad arguments.
        """
    )

    @Option(name: .long, help: "Guest image: static ELF or flat binary.")
    var kernel: String

    @Option(name: .long, help: "Guest RAM in MiB (at least 1).")
    var memory: UInt64 = 128

    @Option(name: .long, help: "Initial ramdisk for a Linux kernel (uncompressed cpio is fastest).")
    var initrd: String?

    @Option(name: .long, help: "Kernel command line for a Linux kernel.")
    var cmdline: String?

    @Option(name: .long, help: "Number of vCPUs.")
    var cpus: Int = 1

    @Option(name: .long, help: "Entry mode for flat binaries: real, protected32 or long64.")
    var entryMode: String?

    @Option(name: .long, help: "Load address of a flat binary (hex with 0x, or decimal).")
    var loadAddress: String?

    @Option(name: .long, help: "COM1 input: stdin (default; raw mode when it is a terminal) or none.")
    var serialInput: String = "stdin"

    @Option(name: .long, help: "virtio-blk disk: path=FILE[,readonly=on][,serial=ID][,overlay=FILE] (repeatable; the first is /dev/vda; with overlay, FILE is a read-only base and writes go to the copy-on-write overlay).")
    var disk: [String] = []

    @Option(name: .long, help: "virtio-net over a tap: tap=NAME or fd=N, [,mac=52:54:00:12:34:56] (repeatable; the first is eth0).")
    var net: [String] = []

    @Flag(name: .long, help: "Add a virtio-rng device (getrandom(2)).")
    var rng = false

    @Option(name: .long, help: ConsoleOption.help)
    var console: String?

    @Option(name: .long, help: "Also serve COM1 on a Unix socket at this path (e.g. for socat or virtctl console).")
    var serialSocket: String?

    @Flag(name: .long, help: "Log Firecracker's `Guest-boot-time = ...` line when the guest writes 123 to 0xC0000000.")
    var bootTimer = false

    @Option(name: .long, help: "CPU template: host (default: KVM's CPUID unchanged) or nested-emulator.")
    var cpuTemplate: String = "host"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    @Flag(name: .long, help: "Keep the start-up code mapped once the vCPUs run (by default its pages are released from the resident set).")
    var keepStartupPages = false

    func validate() throws {
        guard memory >= 1, memory <= (1 << 20) else {
            throw ValidationError("--memory: expected MiB between 1 and 1048576, got \(memory)")
        }
        guard cpus >= 1, cpus <= 255 else { throw ValidationError("--cpus: expected 1...255, got \(cpus)") }
        if let entryMode, X86EntryState.Mode(rawValue: entryMode) == nil {
            throw ValidationError("--entry-mode: expected real, protected32 or long64, got '\(entryMode)'")
        }
        if let loadAddress, parseAddress(loadAddress) == nil {
            throw ValidationError("--load-address: expected a hex (0x...) or decimal address, got '\(loadAddress)'")
        }
        for d in disk { _ = try parseDisk(d) }
        if let console { _ = try ConsoleOption.parse(console) }
        for n in net { _ = try parseNet(n) }
        guard serialInput == "stdin" || serialInput == "none" else {
            throw ValidationError("--serial-input: expected stdin or none, got '\(serialInput)'")
        }
        if CPUTemplate.named(cpuTemplate) == nil {
            throw ValidationError("--cpu-template: expected one of \(CPUTemplate.all.map(\.name).joined(separator: ", ")), got '\(cpuTemplate)'")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level: expected trace, debug, info, notice, warning, error or critical")
        }
    }

    func run() throws {
        let machine: MicroVM
        do { machine = try makeMachine() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
            printError("vmm: \(error)")
            throw ExitCode(1)
        }
        let consoleTakesStdin = ConsoleOption.takesStdin(machine.configuration.console)
        let terminal = TerminalMode(fd: STDIN_FILENO)
        let exit: MachineExit
        do {
            StopSignals.install { [weak machine] name in machine?.requestStop(.stopped(reason: name)) }
            if let pty = machine.console?.ptyPath { printError("vmm: virtio console on \(pty)") }
            if serialInput == "stdin" || consoleTakesStdin { terminal.enterRaw() }
            exit = try machine.run()
            terminal.restore()
        } catch {
            terminal.restore()
            printError("vmm: \(error)")
            throw ExitCode(1)
        }
        switch exit {
        case .guestError, .stopped: printError("vmm: \(exit)")
        default: break
        }
        throw ExitCode(exit.processStatus)
    }

    /// Reads the images and builds the machine. A function of its own so that the kernel and initrd
    /// bytes are released when it returns: the machine keeps no copy, and neither may `run()`.
    private func makeMachine() throws -> MicroVM {
        let bytes: [UInt8]
        do { bytes = try readFile(kernel) } catch {
            throw ValidationError("--kernel: cannot read '\(kernel)': \(error)")
        }
        var initrdBytes: [UInt8]? = nil
        if let initrd {
            do { initrdBytes = try readFile(initrd) } catch {
                throw ValidationError("--initrd: cannot read '\(initrd)': \(error)")
            }
        }
        // A kernel for the boot protocols: a bzImage, an ELF with the PVH entry note, a multiboot
        // image, or whatever comes with an initrd or a command line. Everything else is a simple guest.
        let isLinux = initrd != nil || cmdline != nil || BzImage.isBzImage(bytes)
            || ((try? PVHLoader.entryPoint(elf: bytes)) ?? nil) != nil
            || (Multiboot.magicOffset(bytes) != nil && (try? Multiboot.findHeader(bytes)) != nil)
        let image = isLinux
            ? BootImage.linux(kernel: bytes, initrd: initrdBytes, cmdline: cmdline ?? "console=ttyS0")
            : BootImage.detect(bytes, loadAddress: loadAddress.flatMap(parseAddress).map(GuestAddress.init),
                               mode: entryMode.flatMap(X86EntryState.Mode.init(rawValue:)))
        var logger = Logger(label: "vmm")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        var config = MachineConfiguration(memorySize: memory << 20, vcpuCount: cpus, image: image,
                                          cpuTemplate: CPUTemplate.named(cpuTemplate) ?? .host,
                                          serialSink: { byte in writeStdout(byte) }, logger: logger)
        config.console = try console.map(ConsoleOption.parse)
        let consoleTakesStdin = ConsoleOption.takesStdin(config.console)
        if serialInput == "stdin" && !consoleTakesStdin { config.serialInput = STDIN_FILENO }
        if bootTimer { config.bootTimerLog = { line in printError(line) } }
        config.serialSocketPath = serialSocket
        config.disks = try disk.map(parseDisk)
        config.rng = rng
        config.net = try net.map(parseNet)
        config.releaseStartupPages = !keepStartupPages
        return try MicroVM(configuration: config)
    }
}

func parseAddress(_ text: String) -> UInt64? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
    return UInt64(text)
}

/// Reads a whole file without Foundation (the binary stays small).
func readFile(_ path: String) throws -> [UInt8] {
    do { return try HostFile.readAll(path) } catch { throw FileError(message: String(cString: strerror(error.errno))) }
}

struct FileError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

func writeStdout(_ byte: UInt8) {
    var b = byte
    while write(STDOUT_FILENO, &b, 1) < 0 && errno == EINTR {}
}

func printError(_ line: String) {
    let text = Array((line + "\n").utf8)
    text.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// `path=FILE[,readonly=on|off][,serial=ID][,overlay=FILE]`; errors name the flag and the bad part.
/// With `overlay`, FILE is a read-only base that is never written and the guest's writes go to the
/// overlay (a copy-on-write layer, created when missing).
func parseDisk(_ text: String) throws -> DiskConfiguration {
    var path: String?
    var readOnly = false
    var serial = ""
    var overlay: String?
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[1].isEmpty else {
            throw ValidationError("--disk: expected key=value in '\(part)' (path=FILE[,readonly=on][,serial=ID][,overlay=FILE])")
        }
        switch kv[0] {
        case "path": path = kv[1]
        case "readonly":
            guard kv[1] == "on" || kv[1] == "off" else { throw ValidationError("--disk: readonly must be on or off, got '\(kv[1])'") }
            readOnly = kv[1] == "on"
        case "serial":
            guard kv[1].utf8.count <= 20 else { throw ValidationError("--disk: serial is at most 20 bytes, got '\(kv[1])'") }
            serial = kv[1]
        case "overlay": overlay = kv[1]
        default: throw ValidationError("--disk: unknown key '\(kv[0])' (expected path, readonly, serial, overlay)")
        }
    }
    guard let path else { throw ValidationError("--disk: path=FILE is required in '\(text)'") }
    if let overlay {
        // A read-only copy-on-write disk would never use its overlay; the same file twice would
        // make the base writable.
        guard !readOnly else { throw ValidationError("--disk: overlay= and readonly=on exclude each other in '\(text)'") }
        guard overlay != path else { throw ValidationError("--disk: overlay must be another file than path in '\(text)'") }
    }
    return DiskConfiguration(path: path, readOnly: readOnly, serial: serial, overlayPath: overlay)
}

/// `tap=NAME[,mac=MAC]` or `fd=N[,mac=MAC]`; errors name the flag and what was expected.
func parseNet(_ text: String) throws -> NetConfiguration {
    let usage = "(tap=NAME or fd=N, optionally ,mac=aa:bb:cc:dd:ee:ff)"
    var tap: NetConfiguration.Tap?
    var mac: MACAddress?
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[1].isEmpty else {
            throw ValidationError("--net: expected key=value in '\(part)' \(usage)")
        }
        switch kv[0] {
        case "tap", "fd":
            guard tap == nil else { throw ValidationError("--net: give either tap= or fd= once, not both, in '\(text)'") }
            if kv[0] == "tap" {
                guard kv[1].utf8.count <= 15, !kv[1].contains("/") else {
                    throw ValidationError("--net: tap name must be 1...15 bytes without '/', got '\(kv[1])'")
                }
                tap = .name(kv[1])
            } else {
                guard let fd = Int32(kv[1]), fd >= 0 else {
                    throw ValidationError("--net: fd must be an open file descriptor number, got '\(kv[1])'")
                }
                tap = .fileDescriptor(fd)
            }
        case "mac":
            guard let parsed = MACAddress(kv[1]) else {
                throw ValidationError("--net: mac must be six hex pairs like 52:54:00:12:34:56 (unicast), got '\(kv[1])'")
            }
            mac = parsed
        default: throw ValidationError("--net: unknown key '\(kv[0])' \(usage)")
        }
    }
    guard let tap else { throw ValidationError("--net: tap=NAME or fd=N is required in '\(text)'") }
    return NetConfiguration(tap: tap, mac: mac)
}
