// `vmm launch` without --dry-run: prepare what the resolved VMI needs inside the pod (files, the
// cloud-init ISO, the network), run the machine, and end the way KubeVirt's virt-launcher does:
// SIGTERM starts a graceful shutdown (the ACPI power button, as libvirt presses it for KubeVirt, or
// Ctrl-Alt-Del for a guest without ACPI), terminationGracePeriodSeconds later the VM is stopped hard; a
// second SIGTERM/SIGINT stops it at once. Disks are flushed in every case (MicroVM does that when
// run() returns). A guest reboot restarts the machine in the same process, as a VMI stays Running
// across guest reboots. The phase goes to the status file at every transition.
import Glibc
import Logging
import Machine
import Synchronization
import SystemPackage

/// How `vmm launch` ended; the process exit status (documented in `vmm launch --help`).
public enum LaunchOutcome: Sendable, Equatable {
    /// The guest powered off, by itself or after the graceful shutdown SIGTERM asked for: 0.
    case succeeded(String)
    /// The guest crashed (triple fault, KVM internal error): 2.
    case guestFailed(String)
    /// Stopped hard (the grace period ran out, or a second signal): 3.
    case stoppedHard(String)
    /// The launcher could not prepare or build the VM: 1.
    case launchFailed(String)

    public var exitStatus: Int32 {
        switch self {
        case .succeeded: 0
        case .launchFailed: 1
        case .guestFailed: 2
        case .stoppedHard: 3
        }
    }
}

public struct LaunchRunOptions: Sendable {
    /// Where the phase is written (nil: logged only).
    public var statusFile: String?
    /// The CPU template for the vCPUs (`host` unless the operator says otherwise).
    public var cpuTemplate: CPUTemplate
    public var resolvConfPath: String
    /// How SIGTERM asks the guest to shut down (`auto`: the ACPI power button, Ctrl-Alt-Del when the
    /// guest runs without ACPI).
    public var shutdownMethod: GuestShutdownMethod
    /// MachineConfiguration.releaseStartupPages for every boot (the `vmm` binary sets it).
    public var releaseStartupPages: Bool
    public var logger: Logger
    public init(statusFile: String?, cpuTemplate: CPUTemplate = .host, resolvConfPath: String = "/etc/resolv.conf",
                shutdownMethod: GuestShutdownMethod = .auto, releaseStartupPages: Bool = false,
                logger: Logger = Logger(label: "vmm-launch")) {
        self.statusFile = statusFile
        self.cpuTemplate = cpuTemplate
        self.shutdownMethod = shutdownMethod
        self.releaseStartupPages = releaseStartupPages
        self.resolvConfPath = resolvConfPath
        self.logger = logger
    }
}

/// SIGTERM handling shared between the signal thread and the run loop.
final class ShutdownState: Sendable {
    struct State {
        var machine: MicroVM?
        var terminating = false
        var hardStopped = false
    }
    let state = Mutex(State())

    /// First signal: graceful (the shutdown request `method` names, then a hard stop after `grace`
    /// seconds). Second: hard.
    func signal(_ name: String, grace: Int64, method: GuestShutdownMethod, log: @escaping @Sendable (String) -> Void) {
        let (machine, first) = state.withLock { s -> (MicroVM?, Bool) in
            defer { s.terminating = true }
            return (s.machine, !s.terminating)
        }
        guard first else {
            log("\(name) again: stopping the VM now")
            state.withLock { $0.hardStopped = true }
            machine?.requestStop(.stopped(reason: "\(name) during shutdown"))
            return
        }
        if let sent = machine?.requestGuestShutdown(method) {
            log("\(name): asking the guest to shut down (\(sent)), \(grace) s grace period")
        } else {
            log("\(name): could not ask the guest to shut down (\(method.rawValue) unavailable); stopping it in \(grace) s")
        }
        let watchdog = VCPUThread(name: "grace-period") { [self] in
            var remaining = max(grace, 0)
            while remaining > 0 {
                sleep(1)
                remaining -= 1
                if state.withLock({ $0.machine == nil }) { return }
            }
            guard let m = state.withLock({ s -> MicroVM? in s.hardStopped = s.machine != nil; return s.machine }) else { return }
            log("grace period of \(grace) s over: stopping the VM")
            m.requestStop(.stopped(reason: "terminationGracePeriodSeconds (\(grace) s) expired"))
        }
        _ = watchdog.start()
    }
}

public enum LaunchRunner {
    /// Runs the VMI to its end. Everything the launcher created in the pod (network) is undone
    /// before returning; files it wrote (ISO, overlays, empty disks) stay, as in KubeVirt's pod.
    public static func run(_ c: LaunchConfiguration, options: LaunchRunOptions) -> LaunchOutcome {
        let logger = options.logger
        let log: @Sendable (String) -> Void = { logger.notice("\($0)") }
        let status = LauncherStatus(path: options.statusFile, log: log)
        // First, before any thread exists (the DHCP server's, the machine's): every thread must
        // inherit the blocked SIGTERM/SIGINT, or the kernel could deliver one where its default
        // action kills the process.
        let shutdown = ShutdownState()
        StopSignals.install { name in shutdown.signal(name, grace: c.terminationGracePeriodSeconds, method: options.shutdownMethod, log: log) }
        status.set(.scheduled, reason: "VMI \(c.namespace)/\(c.name): \(c.cpu.vcpus) vCPUs, \(c.memoryBytes >> 20) MiB")

        let prepared: PreparedLaunch
        var firstBootFiles: BootFiles?
        do {
            (prepared, firstBootFiles) = try LaunchPreparation.prepare(c, options: options, log: log)
        } catch {
            status.set(.failed, reason: "preparing the VM: \(error)")
            return .launchFailed("\(error)")
        }
        defer { prepared.networks.forEach { try? $0.teardown() } }

        var boots = 0
        while true {
            boots += 1
            let machine: MicroVM
            do {
                machine = try buildMachine(prepared, boot: boots, firstBootFiles: &firstBootFiles)
            } catch {
                status.set(.failed, reason: "building the VM: \(error)")
                return .launchFailed("\(error)")
            }
            let terminating = shutdown.state.withLock { s -> Bool in s.machine = machine; return s.terminating }
            if terminating { machine.requestStop(.stopped(reason: "SIGTERM before the VM started")) }
            status.set(.running, reason: boots == 1 ? "vCPUs started" : "restarted after a guest reboot (\(boots - 1))")
            let exit: MachineExit
            do { exit = try machine.run() } catch {
                shutdown.state.withLock { $0.machine = nil }
                status.set(.failed, reason: "running the VM: \(error)")
                return .launchFailed("\(error)")
            }
            let (terminatingNow, hard) = shutdown.state.withLock { s -> (Bool, Bool) in
                s.machine = nil
                return (s.terminating, s.hardStopped)
            }
            switch exit {
            case .reset where !terminatingNow:
                log("guest rebooted: starting it again")
                continue
            case .poweredOff, .halted, .reset, .debugExit:
                let reason = terminatingNow ? "shut down after SIGTERM (\(exit))" : "\(exit)"
                status.set(.succeeded, reason: reason)
                return .succeeded(reason)
            case let .guestError(diagnosis):
                status.set(.failed, reason: "guest failed: \(diagnosis)")
                return .guestFailed(diagnosis)
            case let .stopped(reason):
                status.set(.failed, reason: "stopped hard: \(reason)")
                return hard || terminatingNow ? .stoppedHard(reason) : .launchFailed(reason)
            }
        }
    }

    /// The machine for one boot: the first uses the files preparation read, later ones (after a
    /// guest reboot) read them again. A function of its own so the bytes are released on return.
    static func buildMachine(_ prepared: PreparedLaunch, boot: Int, firstBootFiles: inout BootFiles?) throws -> MicroVM {
        let files: BootFiles
        if let first = firstBootFiles {
            files = first
            firstBootFiles = nil
        } else {
            files = try prepared.readBootFiles()
        }
        return try MicroVM(configuration: prepared.machine(boot: boot, files: files))
    }
}
