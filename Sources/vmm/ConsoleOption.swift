// `vmm run --console stdio|pty|socket=PATH|file=PATH|none`: where the virtio console is connected.
import ArgumentParser
import Glibc
import Machine

enum ConsoleOption {
    static var help: ArgumentHelp { """
        Add a virtio console (Linux: hvc0; add console=hvc0 to --cmdline to make it the kernel's \
        console): stdio (stdin and stdout; COM1 then gets no input), pty (its path is printed on \
        stderr, e.g. for screen), socket=PATH (a Unix socket server, one client at a time), \
        file=PATH (output only) or none (the device with nothing attached). Default: no device.
        """ }

    static let expected = "stdio, pty, socket=PATH, file=PATH or none"

    /// Parses the flag's value; errors name the flag and what was expected.
    static func parse(_ text: String) throws -> ConsoleConfiguration {
        switch text {
        case "stdio": return .fileDescriptors(input: STDIN_FILENO, output: STDOUT_FILENO)
        case "pty": return .pty
        case "none": return .disconnected
        default: break
        }
        let kv = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2, kv[0] == "socket" || kv[0] == "file" else {
            throw ValidationError("--console: expected \(expected), got '\(text)'")
        }
        guard !kv[1].isEmpty else { throw ValidationError("--console: \(kv[0])= needs a path, got '\(text)'") }
        return kv[0] == "socket" ? .socket(path: kv[1]) : .file(path: kv[1])
    }

    /// Whether the console reads the VMM's stdin (so COM1 must not).
    static func takesStdin(_ console: ConsoleConfiguration?) -> Bool {
        if case let .fileDescriptors(input, _) = console { return input == STDIN_FILENO }
        return false
    }
}
