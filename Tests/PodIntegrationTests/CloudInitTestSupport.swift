// Helpers for the ISO 9660 and cloud-init tests: a temporary directory, and the real tools that
// read the images back (isoinfo from genisoimage, blkid, mount) run as child processes.
import Foundation
import Testing
@testable import PodIntegration

/// A temporary directory removed with its contents when the value goes away.
final class CloudInitTempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "cloudinit-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    func image(_ image: ISO9660Image, name: String = "image.iso") throws -> String {
        try write(name, image.serialized())
    }
}

struct ToolResult {
    var status: Int32
    var output: [UInt8]
    var errorText: String
    var text: String { String(decoding: output, as: UTF8.self) }
}

enum ISOTools {
    static let searchPath = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]

    static func find(_ tool: String) -> String? {
        searchPath.map { $0 + "/" + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a tool to completion; stdout as bytes so extracted files compare exactly.
    static func run(_ tool: String, _ arguments: [String]) throws -> ToolResult {
        let executable = try #require(find(tool), "\(tool) is not installed (scripts/install-deps.sh installs it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting: a large extraction would otherwise fill the pipe and block the tool.
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus, output: Array(output),
                          errorText: String(decoding: errors, as: UTF8.self))
    }

    /// isoinfo prints Joliet names (UCS-2 on the disc) in ISO 8859-1 and has no UTF-8 charset;
    /// Rock Ridge names are the UTF-8 bytes as written.
    static func charset(_ mode: String) -> [String] { mode == "-J" ? ["-J", "-j", "iso8859-1"] : [mode] }

    /// `isoinfo -x PATH` with Joliet (`-J`, ASCII paths only: isoinfo matches the Latin-1 form) or
    /// Rock Ridge (`-R`) names.
    static func extract(_ image: String, _ path: String, mode: String) throws -> [UInt8] {
        let result = try run("isoinfo", charset(mode) + ["-i", image, "-x", path])
        #expect(result.status == 0, "isoinfo \(mode) -x \(path): \(result.errorText)")
        return result.output
    }

    /// The names `isoinfo -l` lists in directory `directory` ("/" or "/openstack/latest/").
    static func listing(_ image: String, mode: String?) throws -> [String: [String]] {
        let result = try run("isoinfo", (mode.map(charset) ?? []) + ["-l", "-i", image])
        #expect(result.status == 0, "\(result.errorText)")
        var directories: [String: [String]] = [:]
        var current = ""
        let text = mode == "-J" ? String(decoding: result.output.map { UInt16($0) }, as: UTF16.self) : result.text
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("Directory listing of ") {
                current = String(line.dropFirst("Directory listing of ".count))
                directories[current] = []
            } else if let bracket = line.range(of: "] ") {
                // Names follow the "[ extent flags]" column; isoinfo pads them with one trailing space.
                let name = String(line[bracket.upperBound...]).trimmingCharacters(in: .whitespaces)
                if name != "." && name != ".." { directories[current, default: []].append(name) }
            }
        }
        return directories
    }

    /// Whether this kernel can mount ISO 9660 at all, and why not.
    static var mountUnavailableReason: String? {
        guard getuid() == 0 else { return "not root" }
        guard let filesystems = try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8) else {
            return "/proc/filesystems unreadable"
        }
        guard filesystems.contains("iso9660") else { return "the running kernel has no iso9660 file system" }
        return nil
    }

    /// Mounts the image read-only on a loop device, runs `body` with the mount point, unmounts.
    /// Returns false (after printing why) when the host cannot mount ISO 9660.
    static func withLoopMount(_ image: String, in dir: CloudInitTempDir, options: String = "loop,ro",
                              _ body: (String) throws -> Void) throws -> Bool {
        if let reason = mountUnavailableReason {
            print("skipped loop mount of \(image): \(reason)")
            return false
        }
        let point = dir.path + "/mnt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        let mounted = try run("mount", ["-t", "iso9660", "-o", options, image, point])
        guard mounted.status == 0 else {
            // No free loop device in a container is an environment limit, not an image fault.
            print("skipped loop mount of \(image): mount failed: \(mounted.errorText)")
            return false
        }
        defer { _ = try? run("umount", [point]) }
        try body(point)
        return true
    }
}

/// Every byte value, several times: content no text conversion may survive unchanged.
func cloudInitBinaryPattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
}

let cloudInitFixedTime = ISO9660Timestamp(year: 2024, month: 2, day: 29, hour: 13, minute: 14, second: 15)
