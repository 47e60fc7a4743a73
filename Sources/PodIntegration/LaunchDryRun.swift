// `vmm launch`'s logic (the vmm target only parses arguments): read the VMI from a file, stdin or
// STANDALONE_VMI (KubeVirt's standalone mode), resolve it, and for `--dry-run` print the result.
import Glibc
import Logging
import Machine

public enum LaunchExitStatus {
    public static let success: Int32 = 0
    /// The VMI was unreadable or invalid, as for any bad argument (sysexits' EX_USAGE).
    public static let badInput: Int32 = 64
}

public struct LaunchRequest: Sendable {
    /// `--vmi FILE`, `-` for stdin; nil reads `STANDALONE_VMI`.
    public var vmiPath: String?
    public var dryRun: Bool
    /// `--block-volume NAME`: PVC volumes attached as block devices.
    public var blockVolumes: [String]
    /// Where the phase is written; nil: `<KubeVirt private dir>/<uid or name>/launcher-status.json`.
    public var statusFile: String?
    public var cpuTemplate: CPUTemplate = .host
    /// `--shutdown`: how SIGTERM asks the guest to shut down.
    public var shutdownMethod: GuestShutdownMethod = .auto
    /// `--keep-startup-pages` off: release the start-up pages once the vCPUs run.
    public var releaseStartupPages = false
    public var logger = Logger(label: "vmm-launch")
    public init(vmiPath: String?, dryRun: Bool, blockVolumes: [String] = []) {
        self.vmiPath = vmiPath; self.dryRun = dryRun; self.blockVolumes = blockVolumes
    }
}

public enum VMIInputError: Error, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case noInput
    case notUTF8(source: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "--vmi: cannot read '\(path)': \(reason)"
        case .noInput: "--vmi: no VMI given: pass --vmi FILE (- for stdin) or set STANDALONE_VMI"
        case let .notUTF8(source): "\(source): the VMI is not UTF-8 text"
        }
    }
}

public enum PodLauncher {
    /// Reads the VMI text: the file, stdin for `-`, else the environment variable's value.
    public static func readVMI(path: String?, environmentValue: String?) throws(VMIInputError) -> String {
        guard let path else {
            guard let text = environmentValue, !text.isEmpty else { throw .noInput }
            return text
        }
        let bytes = try readAll(path: path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .notUTF8(source: path == "-" ? "stdin" : path)
        }
        return text
    }

    /// Runs `vmm launch`: writes the JSON (dry run) to `out`, errors and notes to `err`; returns the
    /// exit status.
    public static func launch(_ request: LaunchRequest, environmentValue: String?,
                              environment: PodEnvironment = .live,
                              out: (String) -> Void, err: (String) -> Void) -> Int32 {
        let text: String
        do { text = try readVMI(path: request.vmiPath, environmentValue: environmentValue) } catch {
            err(error.description)
            return LaunchExitStatus.badInput
        }
        let resolver = VMIResolver(environment: environment,
                                   options: ResolveOptions(blockVolumes: Set(request.blockVolumes),
                                                           requireSecrets: !request.dryRun))
        let resolved: (configuration: LaunchConfiguration, notes: [VMIIssue])
        do { resolved = try resolver.resolve(text: text) } catch {
            for e in error.errors { err(e.description) }
            for n in error.notes { err("note: \(n)") }
            return LaunchExitStatus.badInput
        }
        for n in resolved.notes { err("note: \(n)") }
        guard request.dryRun else {
            let options = LaunchRunOptions(statusFile: request.statusFile ?? defaultStatusFile(resolved.configuration),
                                           cpuTemplate: request.cpuTemplate, shutdownMethod: request.shutdownMethod,
                                           releaseStartupPages: request.releaseStartupPages, logger: request.logger)
            let outcome = LaunchRunner.run(resolved.configuration, options: options)
            if outcome.exitStatus != 0 { err("vmm launch: \(outcome)") }
            return outcome.exitStatus
        }
        out(resolved.configuration.json.rendered())
        return LaunchExitStatus.success
    }

    static func defaultStatusFile(_ c: LaunchConfiguration) -> String {
        KubeVirtPaths.vmiPrivateDir(uidOrName: c.uid ?? c.name) + "/launcher-status.json"
    }

    private static func readAll(path: String) throws(VMIInputError) -> [UInt8] {
        // A VMI is kilobytes; refuse to buffer something absurd (a device file, a wrong path).
        do { return try HostFile.readAll(path, limit: 16 << 20) } catch {
            let reason = error.errno == EFBIG ? "larger than 16 MiB" : String(cString: strerror(error.errno))
            throw .unreadable(path: path, reason: reason)
        }
    }
}
