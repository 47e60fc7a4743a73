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
}
