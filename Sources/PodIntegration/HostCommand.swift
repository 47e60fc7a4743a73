// Runs `ip` and `nft` with posix_spawn: an argument vector, never a shell, so no value can be read
// as shell syntax. Every argument handed in is built from typed, validated values (NetworkAddresses).
import CKVM
import Glibc
import SystemPackage

/// One run of a helper program found in the system directories.
public struct HostCommand: Sendable {
    public let executable: String
    public let arguments: [String]

    /// The first executable `name` in the usual system directories. A fixed list, not $PATH: the
    /// launcher's environment comes from the pod spec.
    public static func locate(_ name: String) -> String? {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = "\(dir)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    public init(_ name: String, _ arguments: [String]) {
        executable = HostCommand.locate(name) ?? "/usr/sbin/\(name)"
        self.arguments = arguments
    }

    /// Everything the command would be told, for logs and error messages.
    public var argv: [String] { [executable] + arguments }

    /// Runs the command with `input` on stdin, waits for it and returns what it wrote to stdout and
    /// stderr (kept to the first 64 KiB). Throws `.commandFailed` on a non-zero exit.
    @discardableResult
    public func run(input: [UInt8] = []) throws(PodNetworkError) -> String {
        // stdin is a memfd holding the whole input, not a pipe: the child may reopen it by path
        // (`nft -f -` opens /dev/stdin), and nothing can block or raise SIGPIPE while writing it.
        let stdin = ckvm_net_memfd("hostcommand-stdin")
        guard stdin >= 0 else { throw .system(.spawn, errno: Errno(rawValue: -stdin), detail: "memfd") }
        defer { close(stdin) }
        var written = 0
        while written < input.count {
            let n = input.withUnsafeBytes { unsafe write(stdin, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else { throw .system(.spawn, errno: Errno(rawValue: Glibc.errno), detail: "write stdin") }
            written += n
        }
        lseek(stdin, 0, SEEK_SET)

        var out: [Int32] = [-1, -1]
        let pr = out.withUnsafeMutableBufferPointer { unsafe ckvm_net_pipe_cloexec($0.baseAddress) }
        guard pr == 0 else { throw .system(.pipe, errno: Errno(rawValue: -pr), detail: "") }
        var outRead = out[0], outWrite = out[1]
        defer { if outRead >= 0 { close(outRead) }; if outWrite >= 0 { close(outWrite) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies: the child keeps exactly fds 0, 1 and 2.
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, outWrite, 1)
        posix_spawn_file_actions_adddup2(&actions, outWrite, 2)

        // The child starts with no blocked signals and default dispositions: threads of the Swift
        // pool (and signalfd users) block most signals, and a blocked mask survives exec.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // A fixed environment: C locale for stable messages, no inherited variables.
        let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { s in strdup(s) }
        let cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { s in strdup(s) }
        defer { (cArgs + cEnv).forEach { free($0) } }
        var argvC = cArgs + [nil]
        var envC = cEnv + [nil]
        var pid: pid_t = 0
        let r = posix_spawn(&pid, executable, &actions, &attributes, &argvC, &envC)
        guard r == 0 else { throw .system(.spawn, errno: Errno(rawValue: r), detail: executable) }
        close(outWrite)
        outWrite = -1

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { unsafe read(outRead, $0.baseAddress, $0.count) }
            if n < 0 && Glibc.errno == EINTR { continue }
            if n <= 0 { break }
            if output.count < 65536 { output += buffer[0..<min(n, 65536 - output.count)] }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard Glibc.errno == EINTR else { throw .system(.wait, errno: Errno(rawValue: Glibc.errno), detail: executable) }
        }
        let text = String(decoding: output, as: UTF8.self)
        // WIFEXITED/WEXITSTATUS are macros: a normal exit has the low 7 bits clear.
        let exited = status & 0x7F == 0
        let code = exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        guard exited && code == 0 else { throw .commandFailed(arguments: argv, status: code, output: text) }
        return text
    }
}
