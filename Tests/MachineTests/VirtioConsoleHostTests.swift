// The virtio console's host side without a guest: bytes written to its socket or pty reach the
// device's held input through the event loop, and what the device sends (an emergency write, which
// needs no queues) reaches the client, the pty or the file. Plus `vmm run --console` argument errors
// and the refusal to read one descriptor for both COM1 and the console.
import Foundation
import Logging
import Machine
import Testing
import TestSupport
import VirtioDevices

/// Waits (polling, up to `seconds`) for `condition`; the tests assert on the state, not the time.
func eventually(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(10_000)
    }
    return true
}

/// Reads what is available on `fd` within `seconds`.
func readSome(_ fd: Int32, seconds: Int32 = 10) -> [UInt8] {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, seconds * 1000) > 0 else { return [] }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = read(fd, &buffer, buffer.count)
    return n > 0 ? Array(buffer[0..<n]) : []
}

@Suite("virtio console host side")
struct VirtioConsoleHostTests {
    let logger = Logger(label: "vmm-test")

    @Test func socketClientInputReachesTheDeviceAndOutputReachesTheClient() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-hvc-\(getpid()).sock").path
        let host = try VirtioConsoleHost(.socket(path: path), logger: logger)
        let loop = try EventLoop()
        try host.start(on: loop)
        #expect(loop.start() == 0)
        defer { loop.stop() }
        let fd = connectUnix(path)
        try #require(fd >= 0, "connected to \(path)")
        defer { close(fd) }
        let capacity = host.device.inputCapacity
        #expect(write(fd, "abc", 3) == 3)
        #expect(eventually { host.device.receiveRoom == capacity - 3 }, "held in the device: no guest buffers yet")
        host.device.writeConfig(offset: 8, size: 4, value: UInt64(UInt8(ascii: "Z")))   // emerg_wr
        #expect(readSome(fd) == Array("Z".utf8))
    }

    @Test func ptyCarriesBothDirectionsWithoutEcho() throws {
        let host = try VirtioConsoleHost(.pty, logger: logger)
        let path = try #require(host.ptyPath)
        #expect(path.hasPrefix("/dev/pts/"))
        let loop = try EventLoop()
        try host.start(on: loop)
        #expect(loop.start() == 0)
        defer { loop.stop() }
        let user = open(path, O_RDWR | O_NOCTTY)
        try #require(user >= 0, "opened \(path)")
        defer { close(user) }
        let capacity = host.device.inputCapacity
        #expect(write(user, "hi", 2) == 2)
        #expect(eventually { host.device.receiveRoom == capacity - 2 })
        host.device.writeConfig(offset: 8, size: 4, value: UInt64(UInt8(ascii: "Q")))
        #expect(readSome(user) == Array("Q".utf8), "raw: no echo of the input, no newline translation")
        #expect(host.device.receiveRoom == capacity - 2, "the guest's output did not come back as input")
    }

    @Test func fileGetsTheOutput() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-hvc-\(getpid()).log").path
        defer { unlink(path) }
        do {
            let host = try VirtioConsoleHost(.file(path: path), logger: logger)
            for byte in "out".utf8 { host.device.writeConfig(offset: 8, size: 4, value: UInt64(byte)) }
        }
        #expect(FileManager.default.contents(atPath: path) == Data("out".utf8))
    }

    @Test func unusableBackendsNameThePath() throws {
        #expect {
            _ = try VirtioConsoleHost(.file(path: "/nonexistent-dir/x.log"), logger: logger)
        } throws: { error in
            "\(error)".contains("open '/nonexistent-dir/x.log'")
        }
        #expect {
            _ = try VirtioConsoleHost(.socket(path: "/nonexistent-dir/x.sock"), logger: logger)
        } throws: { error in
            "\(error)".contains("bind '/nonexistent-dir/x.sock'")
        }
    }

    @Test func consoleFlagValuesAreChecked() throws {
        let bad = try runVMM(["run", "--kernel", "/x", "--console", "tty"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--console: expected stdio, pty, socket=PATH, file=PATH or none, got 'tty'"))
        let noPath = try runVMM(["run", "--kernel", "/x", "--console", "socket="])
        #expect(noPath.status == 64)
        #expect(noPath.stderr.contains("--console: socket= needs a path"))
    }
}

@Suite(.enabled(if: KVMAvailability.available, kvmReason))
struct VirtioConsoleMachineTests {
    @Test func comOneAndTheConsoleCannotShareAnInput() throws {
        var config = MachineConfiguration(memorySize: 16 << 20, image: try elfImage(.serialHello), serialSink: { _ in })
        config.serialInput = STDIN_FILENO
        config.console = .fileDescriptors(input: STDIN_FILENO, output: STDOUT_FILENO)
        #expect {
            _ = try MicroVM(configuration: config)
        } throws: { error in
            guard case let MachineError.invalidConfiguration(field, _) = error else { return false }
            return field == "console"
        }
    }

    @Test func aGuestThatIgnoresTheConsoleRunsAsBefore() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-hvc-idle-\(getpid()).log").path
        defer { unlink(log) }
        let r = try runVMM(["run", "--kernel", try GuestPrograms.elfPath(.serialHello), "--memory", "16",
                            "--console", "file=\(log)"])
        #expect(r.stdout == "Hello from a Swift VMM guest\n")
        #expect(r.status == 1)
        #expect(FileManager.default.contents(atPath: log) == Data(), "created, and empty: the guest wrote nothing there")
    }
}
