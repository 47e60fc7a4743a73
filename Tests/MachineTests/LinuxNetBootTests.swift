// virtio-net end to end: the shared guest kernel under `vmm run --net tap=...`, the tap inside a
// network namespace this test creates (vmm runs there through `ip netns exec`), Linux's own
// virtio-net driver on the guest side. One boot covers every check: eth0 comes up with the MAC
// we gave, offloads and mergeable buffers were negotiated, the host answers a ping, and a few MiB
// cross a TCP connection each way with CRC-32s that match on both ends.
// An extension of LinuxBootTests so it joins that serialized suite (one Linux boot at a time).
import Foundation
import Testing

extension LinuxBootTests {
    @Test(.timeLimit(.minutes(8)), .enabled(if: NetHost.available, NetHost.comment))
    func vmmBinaryMovesTrafficThroughATapBothWays() throws {
        let kernelPath = guestKernelPath()
        guard FileManager.default.fileExists(atPath: kernelPath) else {
            Issue.record("guest kernel missing at \(kernelPath): build it with guest-kernel/build.sh")
            return
        }
        let bytes = 2 << 20   // each way: about 40-60 s per MiB on a host that interprets guest kernel code
        let mac = "52:54:00:5a:11:7e"
        let ns = try TestNetworkNamespace(prefix: "svmm-linux")
        try ns.exec(["ip", "tuntap", "add", "dev", "vmtap0", "mode", "tap"])
        try ns.exec(["ip", "addr", "add", "10.0.2.1/24", "dev", "vmtap0"])
        try ns.exec(["ip", "link", "set", "vmtap0", "up"])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-net-test-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let initrd = dir.appendingPathComponent("initrd.cpio")
        try Data(try buildTestInitramfs()).write(to: initrd)

        // The host end: counts and CRCs what the guest sends, then answers with `bytes` of its own.
        let (server, serverOutput) = try ns.start(["python3", "-u", "-c", """
            import random, socket, sys, zlib
            n = int(sys.argv[1])
            srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(('10.0.2.1', 5201)); srv.listen(1); srv.settimeout(400); print('READY')
            c, _ = srv.accept(); c.settimeout(180)
            crc, got = 0, 0
            while True:
                b = c.recv(1 << 16)
                if not b: break
                crc, got = zlib.crc32(b, crc), got + len(b)
            print(f'SERVER-RX: bytes={got} crc={crc:08x}')
            data = random.Random(1).randbytes(n)
            c.sendall(data); c.close()
            print(f'SERVER-TX: bytes={n} crc={zlib.crc32(data):08x}')
            """, "\(bytes)"])
        defer { if server.isRunning { server.terminate() } }
        #expect(readLine(from: serverOutput) { $0 == "READY" } != nil)

        // `timeout`: a guest that stops making progress fails the test instead of hanging it.
        let r = try runProcess(["timeout", "420", "ip", "netns", "exec", ns.name, try vmmPath(), "run", "--kernel", kernelPath,
                                "--initrd", initrd.path, "--memory", "256", "--cpus", "1",
                                "--cpu-template", "nested-emulator", "--serial-input", "none",
                                "--net", "tap=vmtap0,mac=\(mac)",
                                "--cmdline", "console=ttyS0 mitigations=off panic=-1 swifttest_net=1 swifttest_net_bytes=\(bytes)"])
        let out = r.stdout
        #expect(r.status == 0, "powered off cleanly: \(r.stderr) \(out.suffix(3000))")
        #expect(out.contains("SWIFT-VMM-NET-MAC: \(mac)"), "the guest sees the configured MAC")
        #expect(out.contains("SWIFT-VMM-NET-UP: eth0 10.0.2.15/24 via 10.0.2.1"))
        let features = line(out, "SWIFT-VMM-NET-FEATURES: ")
        #expect(bit(features, 15) && bit(features, 5) && bit(features, 16), "MRG_RXBUF, MAC, STATUS: \(features)")
        #expect(bit(features, 0) && bit(features, 1) && bit(features, 7) && bit(features, 11),
                "CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4 negotiated over a tap: \(features)")
        #expect(out.contains("SWIFT-VMM-NET-PING: reply from 10.0.2.1"), "\(out.suffix(2000))")

        if !out.contains("SWIFT-VMM-NET-RX: ") { server.terminate() }   // the guest never finished
        server.waitUntilExit()
        let serverText = String(decoding: serverOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let guestTX = line(out, "SWIFT-VMM-NET-TX: "), guestRX = line(out, "SWIFT-VMM-NET-RX: ")
        let serverRX = line(serverText, "SERVER-RX: "), serverTX = line(serverText, "SERVER-TX: ")
        #expect(guestTX.hasPrefix("bytes=\(bytes) "), "guest sent everything: \(guestTX)")
        #expect(guestTX == serverRX, "guest → host: \(guestTX) vs \(serverRX)")
        #expect(guestRX.hasPrefix("bytes=\(bytes) "), "guest received everything: \(guestRX)")
        #expect(guestRX == serverTX, "host → guest: \(guestRX) vs \(serverTX)")
    }
}

/// The rest of the first line starting with `prefix` ("" when there is none). "\r\n" from the tty is
/// one Character in Swift, hence isNewline rather than a comparison with "\n".
func line(_ text: String, _ prefix: String) -> String {
    text.split(whereSeparator: \.isNewline).first { $0.hasPrefix(prefix) }
        .map { String($0.dropFirst(prefix.count)) } ?? ""
}

/// Bit `n` of a /sys/.../features string (one '0'/'1' per feature bit, bit 0 first).
func bit(_ features: String, _ n: Int) -> Bool {
    let chars = Array(features)
    return n < chars.count && chars[n] == "1"
}

/// Runs a program (through /usr/bin/env) and collects its output and status.
func runProcess(_ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // stderr is drained on another thread so a chatty child cannot block on a full pipe.
    let stderrBox = DataBox()
    let reader = Thread { stderrBox.data = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !stderrBox.done { usleep(10_000) }
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderrBox.data, as: UTF8.self))
}

final class DataBox: @unchecked Sendable {
    // @unchecked: written once by the reader thread, read after `done` is seen.
    private let lock = NSLock()
    private var value = Data()
    private var finished = false
    var data: Data {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue; finished = true } }
    }
    var done: Bool { lock.withLock { finished } }
}
