// The `vmm` binary as a user runs it: exit statuses, stdout, stderr diagnoses, argument errors.
import Foundation
import Testing
import TestSupport

struct VMMNotBuilt: Error, CustomStringConvertible { let description: String }

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The vmm executable built next to this test bundle (`swift build --build-tests` builds it).
func vmmPath() throws -> String {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On Linux the test runner is <build>/debug/<package>PackageTests.xctest.
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    let path = dir.appendingPathComponent("vmm").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw VMMNotBuilt(description: "vmm binary not found at \(path): run `swift build --build-tests` first")
    }
    return path
}

func runVMM(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try vmmPath())
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

@Suite struct VMMArgumentTests {
    @Test func badCPUCountNamesTheFlag() throws {
        let r = try runVMM(["run", "--kernel", "/nonexistent", "--cpus", "0"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--cpus"))
    }

    @Test func unreadableKernelNamesTheFlagAndFile() throws {
        let r = try runVMM(["run", "--kernel", "/nonexistent/kernel"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--kernel"))
        #expect(r.stderr.contains("/nonexistent/kernel"))
    }

    @Test func malformedDiskFlagsNameTheFlagAndThePart() throws {
        let noPath = try runVMM(["run", "--kernel", "/x", "--disk", "readonly=on"])
        #expect(noPath.status == 64)
        #expect(noPath.stderr.contains("--disk: path=FILE is required"))
        let badKey = try runVMM(["run", "--kernel", "/x", "--disk", "path=/a,colour=red"])
        #expect(badKey.status == 64)
        #expect(badKey.stderr.contains("--disk: unknown key 'colour'"))
        let badRO = try runVMM(["run", "--kernel", "/x", "--disk", "path=/a,readonly=yes"])
        #expect(badRO.stderr.contains("--disk: readonly must be on or off"))
        let sameFile = try runVMM(["run", "--kernel", "/x", "--disk", "path=/a,overlay=/a"])
        #expect(sameFile.status == 64)
        #expect(sameFile.stderr.contains("--disk: overlay must be another file than path"))
        let readOnlyOverlay = try runVMM(["run", "--kernel", "/x", "--disk", "path=/a,overlay=/b,readonly=on"])
        #expect(readOnlyOverlay.status == 64)
        #expect(readOnlyOverlay.stderr.contains("--disk: overlay= and readonly=on exclude each other"))
    }

    @Test func badEntryModeListsTheChoices() throws {
        let r = try runVMM(["run", "--kernel", "/x", "--entry-mode", "v86"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("real, protected32 or long64"))
    }
}

@Suite(.enabled(if: KVMAvailability.available, Comment(rawValue: KVMAvailability.reason)))
struct VMMBinaryTests {
    @Test func serialOutputGoesToStdoutAndDebugExitSetsStatus() throws {
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.serialHello), "--memory", "16"])
        #expect(r.stdout == "Hello from a Swift VMM guest\n")
        #expect(r.status == 1, "debug-exit value 0 gives (0 << 1) | 1")
        #expect(r.stderr.isEmpty)
    }

    @Test func debugExitValueIsShiftedLikeQEMU() throws {
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.helloLong64), "--memory", "16"])
        #expect(r.stdout == "long64\n")
        #expect(r.status == (0x10 << 1) | 1)
    }

    @Test func realModeFlatBinaryFromTheCommandLine() throws {
        let r = try runVMM(["run", "--kernel", try GuestPrograms.flatPath(.helloReal), "--entry-mode", "real",
                            "--load-address", "0x8000", "--memory", "2"])
        #expect(r.stdout == "real\n")
        #expect(r.status == (0x10 << 1) | 1)
    }

    @Test func tripleFaultGivesStatusTwoAndAOneLineDiagnosis() throws {
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.tripleFault), "--memory", "16"])
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(r.stderr.contains("shutdown (triple fault)") && r.stderr.contains("RIP 0x") && r.stderr.contains("instruction bytes"))
    }

    @Test func stdinReachesTheGuestThroughCOM1() throws {
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.serialEcho), "--memory", "16"], input: "hello vmm\n")
        #expect(r.stdout == "hello vmm\n", "the guest echoes what it received")
        #expect(r.status == (10 << 1) | 1, "it reports 10 bytes received")
    }

    @Test func serialSocketCarriesInputAndACopyOfTheOutput() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-console-\(getpid()).sock").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try vmmPath())
        process.arguments = ["run", "--kernel", try GuestPrograms.elfPath(.serialEcho), "--memory", "16",
                             "--serial-input", "none", "--serial-socket", path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var fd: Int32 = -1
        for _ in 0..<100 where fd < 0 {   // the socket appears once the machine is built
            usleep(50_000)
            fd = connectUnix(path)
        }
        #expect(fd >= 0, "connected to \(path)")
        guard fd >= 0 else { process.terminate(); return }
        defer { close(fd) }
        let line = Array("via socket\n".utf8)
        #expect(write(fd, line, line.count) == line.count)
        var echoed: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while echoed.count < line.count {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            echoed += buffer[0..<n]
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(echoed == line, "the client gets the guest's output")
        #expect(String(decoding: stdout, as: UTF8.self) == "via socket\n", "stdout gets it too")
        #expect(process.terminationStatus == (11 << 1) | 1)
        #expect(!FileManager.default.fileExists(atPath: path), "the socket is removed on exit")
    }

    @Test func sigtermStopsAnEndlessGuest() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try vmmPath())
        process.arguments = ["run", "--kernel", try GuestPrograms.elfPath(.pioLoopCPL3), "--memory", "16"]
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        usleep(300_000)
        #expect(process.isRunning, "the loop guest never ends by itself")
        process.terminate()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "vmm exits by itself, not killed by the signal")
        #expect(process.terminationStatus == 3)
        #expect(stderr.contains("SIGTERM"))
    }

    /// Resident KiB of the process's read-only file mappings (text, read-only data; its own and its
    /// shared libraries'), from /proc/PID/smaps.
    static func readOnlyFileRSS(_ pid: Int32) throws -> Int {
        let smaps = try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)
        var total = 0, counting = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                let perms = fields[1]
                counting = fields.count >= 6 && fields[5].hasPrefix("/") && !perms.contains("w") && perms.hasSuffix("p")
            } else if counting, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    /// Once the vCPUs run, `vmm run` releases the pages of its start-up code (StartupPages): the
    /// idle guest's VMM keeps far less of its code resident than with --keep-startup-pages.
    @Test func startupPagesLeaveTheResidentSetOnceTheGuestRuns() throws {
        func measure(keep: Bool) throws -> Int {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try vmmPath())
            process.arguments = ["run", "--kernel", try GuestPrograms.elfPath(.pvhIdle), "--memory", "16",
                                 "--serial-input", "none", "--log-level", "debug"] + (keep ? ["--keep-startup-pages"] : [])
            process.standardOutput = FileHandle.nullDevice
            let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-pages-\(getpid())-\(keep).txt")
            _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: errFile) }
            process.standardError = try FileHandle(forWritingTo: errFile)
            try process.run()
            defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
            // Released: measure once the machine says so. Kept: the resident set only grows, so an
            // early measurement can only make the comparison below stricter.
            var log = ""
            if keep {
                usleep(500_000)
            } else {
                for _ in 0..<100 where !log.contains("released ") {
                    usleep(50_000)
                    log = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
                }
            }
            #expect(process.isRunning, "the idle guest runs: \(log)")
            if !keep { #expect(log.contains("released "), "the release is logged: \(log)") }
            return try Self.readOnlyFileRSS(process.processIdentifier)
        }
        let kept = try measure(keep: true)
        let released = try measure(keep: false)
        #expect(released * 2 < kept, "read-only file pages resident: \(released) KiB released vs \(kept) KiB kept")
    }
}

/// A connected AF_UNIX stream socket, or -1.
func connectUnix(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
    }
    let r = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if r != 0 { close(fd); return -1 }
    return fd
}
