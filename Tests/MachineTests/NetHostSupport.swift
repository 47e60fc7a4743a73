// Host-side helpers for the network tests: commands run in a throwaway network namespace, a
// namespace that deletes itself (and the taps in it), and the capability check that skips the
// tests with a printed reason where there is no root or no /dev/net/tun.
import Foundation
import Testing

enum NetHost {
    static var available: Bool { reason == nil }

    /// Why the tap tests cannot run here, or nil.
    static let reason: String? = {
        if getuid() != 0 { return "tap tests need root (creating taps and network namespaces)" }
        if access("/dev/net/tun", R_OK | W_OK) != 0 { return "/dev/net/tun is not available" }
        if which("ip") == nil { return "iproute2's `ip` is not installed" }
        if which("python3") == nil { return "python3 is not installed" }
        return nil
    }()

    static var comment: Comment { Comment(rawValue: reason ?? "") }

    static func which(_ tool: String) -> String? {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where access("\(dir)/\(tool)", X_OK) == 0 {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    /// Runs a tool to completion; throws with its stderr when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw VMMNotBuilt(description: "\(arguments.joined(separator: " ")) failed (\(p.terminationStatus)): \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

/// A network namespace for one test, deleted (with its interfaces) when the value goes away.
final class TestNetworkNamespace {
    let name: String

    init(prefix: String) throws {
        name = "\(prefix)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try NetHost.run(["ip", "netns", "add", name])
        try exec(["ip", "link", "set", "lo", "up"])
    }

    deinit { _ = try? NetHost.run(["ip", "netns", "del", name]) }

    /// Runs a command inside the namespace.
    @discardableResult
    func exec(_ arguments: [String]) throws -> String {
        try NetHost.run(["ip", "netns", "exec", name] + arguments)
    }

    /// Starts a long-running command inside the namespace; its stdout is returned as a pipe.
    func start(_ arguments: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", name] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        return (p, out)
    }
}

/// Reads whole lines from a pipe until one satisfies `match` (nil when the pipe closes first).
func readLine(from pipe: Pipe, until match: (String) -> Bool) -> String? {
    var buffer = Data()
    while true {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { return nil }
        buffer.append(chunk)
        // Whole lines only: a chunk may end in the middle of one.
        let text = String(decoding: buffer, as: UTF8.self)
        // isNewline, not "\n": a tty's "\r\n" is one Character in Swift and never equals "\n".
        let complete = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).dropLast()
        if let line = complete.map(String.init).first(where: match) { return line }
    }
}
