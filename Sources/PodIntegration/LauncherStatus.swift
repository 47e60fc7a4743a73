// The launcher's phase, as KubeVirt names a VMI's phases, written to a status file that a sidecar, a
// readiness probe or a test can read (`cat`), and logged at each transition. The file is replaced
// atomically (write a temporary file, fsync, rename), so a reader never sees half a status.
import Glibc
import SystemPackage

public enum LauncherPhase: String, Sendable, Equatable {
    /// The VMI was read and resolved; disks and network are being prepared.
    case scheduled = "Scheduled"
    /// The machine is built and its vCPUs run.
    case running = "Running"
    /// The guest powered off (or halted) by itself, or shut down gracefully after SIGTERM.
    case succeeded = "Succeeded"
    /// The VMI could not be started, the guest crashed, or the launcher stopped it hard.
    case failed = "Failed"
}

public final class LauncherStatus: Sendable {
    public let path: String?
    private let log: @Sendable (String) -> Void

    /// `path` nil: transitions are only logged.
    public init(path: String?, log: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.log = log
    }

    /// Records `phase` with a reason (one line; newlines become spaces). A status file that cannot
    /// be written is logged, never fatal: the VM matters more than its status report.
    public func set(_ phase: LauncherPhase, reason: String) {
        let oneLine = String(reason.map { $0.isNewline ? " " : $0 })
        log("phase \(phase.rawValue): \(oneLine)")
        guard let path else { return }
        let document = JSONValue.object([
            ("phase", .string(phase.rawValue)),
            ("reason", .string(oneLine)),
            ("unixTime", .int(Int64(time(nil)))),
        ])
        if let error = Self.replace(path, contents: Array((document.rendered() + "\n").utf8)) {
            log("status file \(path): \(error)")
        }
    }

    /// Writes `contents` to `path` through a temporary file in the same folder and a rename.
    static func replace(_ path: String, contents: [UInt8]) -> String? {
        let temporary = path + ".tmp"
        do {
            let fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                             permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try fd.closeAfter {
                _ = try fd.writeAll(contents)
                guard fsync(fd.rawValue) == 0 else { throw Errno(rawValue: errno) }
            }
        } catch {
            return "writing \(temporary): \(error)"
        }
        guard rename(temporary, path) == 0 else { return "rename to \(path): \(String(cString: strerror(errno)))" }
        return nil
    }
}
