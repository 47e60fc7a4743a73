// `vmm launch`: run a KubeVirt VirtualMachineInstance in this pod. Argument parsing only; the logic
// is in PodIntegration (PodLauncher).
import ArgumentParser
import Glibc
import Logging
import Machine
import PodIntegration

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run a KubeVirt VirtualMachineInstance (YAML or JSON) in this pod.",
        discussion: """
        The VMI comes from --vmi FILE (- for stdin) or, as in KubeVirt's standalone mode, from the \
        STANDALONE_VMI environment variable. A VirtualMachine is run through its spec.template. \
        --dry-run prints the resolved configuration as JSON and exits 0. Every problem is printed \
        on its own line, field path first (spec.domain.devices.interfaces[1].sriov: ...), and the \
        exit status is 64 as for any bad argument. \
        Without --dry-run the launcher prepares disks (empty disks, cloud-init ISOs, overlays) and \
        the pod network, runs the VM, and writes its phase (Scheduled, Running, Succeeded, Failed) \
        to the status file. SIGTERM asks the guest to shut down (--shutdown: the ACPI power button, or Ctrl-Alt-Del for a guest \
        without ACPI) and stops it hard \
        after terminationGracePeriodSeconds; a second SIGTERM stops it at once. A guest reboot \
        restarts the VM. Exit status: 0 when the guest powered off, 1 when the VM could not be \
        prepared or built, 2 when the guest crashed, 3 when it was stopped hard, 64 for bad input.
        """
    )

    @Option(name: .long, help: "The VMI or VM manifest (YAML or JSON); - reads stdin. Default: $STANDALONE_VMI.")
    var vmi: String?

    @Flag(name: .long, help: "Print the resolved configuration as JSON and exit.")
    var dryRun = false

    @Option(name: .long, help: "A PVC/DataVolume volume attached as a block device at /dev/NAME (repeatable; otherwise detected).")
    var blockVolume: [String] = []

    @Option(name: .long, help: "Where to write the launcher's phase (default: /var/run/kubevirt-private/<uid>/launcher-status.json).")
    var statusFile: String?

    @Option(name: .long, help: "CPU template: host (default) or nested-emulator.")
    var cpuTemplate: String = "host"

    @Option(name: .long, help: "How SIGTERM asks the guest to shut down: auto (default: the ACPI power button, Ctrl-Alt-Del without ACPI), acpi-power-button or ctrl-alt-del.")
    var shutdown: String = "auto"

    @Flag(name: .long, help: "Keep the start-up code mapped once the vCPUs run (by default its pages are released from the resident set).")
    var keepStartupPages = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    func validate() throws {
        if CPUTemplate.named(cpuTemplate) == nil {
            throw ValidationError("--cpu-template: expected one of \(CPUTemplate.all.map(\.name).joined(separator: ", ")), got '\(cpuTemplate)'")
        }
        if GuestShutdownMethod(rawValue: shutdown) == nil {
            throw ValidationError("--shutdown: expected one of \(GuestShutdownMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(shutdown)'")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level: expected trace, debug, info, notice, warning, error or critical, got '\(logLevel)'")
        }
    }

    func run() throws {
        var request = LaunchRequest(vmiPath: vmi, dryRun: dryRun, blockVolumes: blockVolume)
        request.statusFile = statusFile
        request.cpuTemplate = CPUTemplate.named(cpuTemplate) ?? .host
        request.shutdownMethod = GuestShutdownMethod(rawValue: shutdown) ?? .auto
        request.releaseStartupPages = !keepStartupPages
        var logger = Logger(label: "vmm-launch")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        request.logger = logger
        let env = getenv("STANDALONE_VMI").map { String(cString: $0) }
        let status = PodLauncher.launch(request, environmentValue: env,
                                        out: { print($0) }, err: { printError($0) })
        if status != 0 { throw ExitCode(status) }
    }
}
