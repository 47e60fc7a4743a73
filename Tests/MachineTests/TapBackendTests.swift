// The tap backend against a real Linux tap, moved into a throwaway network namespace: frames go
// both ways with the 12-byte virtio-net header, and the offload bits really change what the host
// kernel hands over (a partial checksum once TUN_F_CSUM is on).
import Foundation
import Glibc
import Machine
import Testing
import VirtioDevices

@Suite(.serialized, .enabled(if: NetHost.available, NetHost.comment))
struct TapBackendTests {
    static let guestMAC: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]

    @Test func framesMoveBothWaysWithTheVnetHeader() throws {
        let ns = try TestNetworkNamespace(prefix: "svmm-tap")
        let name = "svt\(getpid() % 100_000)"
        let tap = try TapBackend(name: name)
        #expect(tap.name == name)
        #expect(tap.receiveOffloads.isSuperset(of: [.checksum, .tso4, .tso6]), "a Linux tap offers \(tap.receiveOffloads)")
        try NetHost.run(["ip", "link", "set", name, "netns", ns.name])
        try ns.exec(["ip", "addr", "add", "10.199.0.1/24", "dev", name])
        try ns.exec(["ip", "link", "set", name, "up"])
        try ns.exec(["ip", "neigh", "add", "10.199.0.2", "lladdr", "52:54:00:12:34:56", "dev", name, "nud", "permanent"])
        let hostMAC = try ns.exec(["cat", "/sys/class/net/\(name)/address"]).trimmingCharacters(in: .whitespacesAndNewlines)

        // Host → VMM: finished frames while no offload is on.
        let send = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hello-from-host', ('10.199.0.2', 6666))"
        try ns.exec(["python3", "-c", send])
        let first = try #require(try receiveUDP(tap, port: 6666), "the datagram reached the tap")
        #expect(first.header.flags & VirtioNetHeader.needsChecksum == 0 && first.header.gsoType == 0)
        #expect(Array(first.frame[0..<6]) == Self.guestMAC)
        #expect(first.frame.suffix(15) == Array("hello-from-host".utf8))

        // With TUN_F_CSUM the host kernel leaves the UDP checksum to "the device": the header says where.
        #expect(throws: Never.self) { try tap.setReceiveOffloads([.checksum]).get() }
        try ns.exec(["python3", "-c", send])
        let partial = try #require(try receiveUDP(tap, port: 6666))
        #expect(partial.header.flags & VirtioNetHeader.needsChecksum != 0, "header \(partial.header)")
        #expect(partial.header.checksumStart == 34 && partial.header.checksumOffset == 6)
        #expect(throws: Never.self) { try tap.setReceiveOffloads([]).get() }

        // VMM → host: a frame with only a partial checksum (NEEDS_CSUM). The host kernel completes it;
        // a UDP socket would drop the datagram if it had not.
        let (listener, output) = try ns.start(["python3", "-u", "-c", """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('10.199.0.1', 7777)); s.settimeout(20); print('ready')
            print('got', s.recvfrom(2048)[0].decode())
            """])
        defer { if listener.isRunning { listener.terminate() } }
        #expect(readLine(from: output) { $0 == "ready" } != nil)
        let payload = Array("hello-from-vm".utf8)
        let frame = udpFrame(destinationMAC: parseMAC(hostMAC), payload: payload)
        let header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, checksumStart: 34, checksumOffset: 6)
        #expect(throws: Never.self) { try tap.send(header.bytes + frame).get() }
        #expect(readLine(from: output) { $0.hasPrefix("got") } == "got hello-from-vm")
        listener.waitUntilExit()
    }

    @Test func adoptsAnOpenTapAndRefusesOtherDescriptors() throws {
        let ns = try TestNetworkNamespace(prefix: "svmm-tapfd")
        let name = "svf\(getpid() % 100_000)"
        let opened = try TapBackend(name: name)
        defer { _ = try? NetHost.run(["ip", "link", "del", name]) }
        _ = ns
        let adopted = try TapBackend(adopting: dup(opened.fileDescriptor))
        #expect(adopted.name == name)
        #expect(adopted.receiveOffloads == opened.receiveOffloads)
        let null = open("/dev/null", O_RDWR)
        #expect(throws: NetBackendError.self) { try TapBackend(adopting: null) }
        #expect(throws: NetBackendError.invalidInterfaceName("much-too-long-tap-name")) {
            try TapBackend(name: "much-too-long-tap-name")
        }
    }
}

/// Reads frames from the tap (waiting up to 10 s each) until a UDP datagram to `port` arrives;
/// other traffic (IPv6 neighbour discovery, ...) is skipped.
func receiveUDP(_ tap: TapBackend, port: UInt16) throws -> (header: VirtioNetHeader, frame: [UInt8])? {
    var buffer = [UInt8](repeating: 0, count: 70_000)
    for _ in 0..<50 {
        var fds = pollfd(fd: tap.fileDescriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&fds, 1, 10_000) == 1 else { return nil }
        guard case let .frame(length) = tap.receive(into: &buffer) else { continue }
        let bytes = Array(buffer[0..<length])
        guard let header = VirtioNetHeader(bytes) else { continue }
        let frame = Array(bytes[VirtioNetHeader.size...])
        // IPv4 (0x0800), UDP (17), destination port at 14 + 20 + 2.
        if frame.count >= 42, frame[12] == 8, frame[13] == 0, frame[23] == 17,
           UInt16(frame[36]) << 8 | UInt16(frame[37]) == port {
            return (header, frame)
        }
    }
    return nil
}

func parseMAC(_ text: String) -> [UInt8] { MACAddress(text)?.bytes ?? [] }

/// Ethernet + IPv4 (10.199.0.2 → 10.199.0.1) + UDP (6000 → 7777) whose checksum field holds only
/// the pseudo-header sum, as a driver using VIRTIO_NET_HDR_F_NEEDS_CSUM leaves it.
func udpFrame(destinationMAC: [UInt8], payload: [UInt8]) -> [UInt8] {
    func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    func fold(_ sum: Int) -> Int { var s = sum; while s > 0xffff { s = (s & 0xffff) + (s >> 16) }; return s }
    func sum(_ bytes: [UInt8]) -> Int {
        stride(from: 0, to: bytes.count, by: 2).reduce(0) { $0 + Int(bytes[$1]) << 8 + ($1 + 1 < bytes.count ? Int(bytes[$1 + 1]) : 0) }
    }
    let source: [UInt8] = [10, 199, 0, 2], destination: [UInt8] = [10, 199, 0, 1]
    let udpLength = 8 + payload.count
    var ip: [UInt8] = [0x45, 0] + be16(20 + udpLength) + [0, 1, 0x40, 0, 64, 17, 0, 0] + source + destination
    let ipChecksum = 0xffff - fold(sum(ip))
    ip[10] = UInt8(ipChecksum >> 8); ip[11] = UInt8(ipChecksum & 0xff)
    let pseudo = fold(sum(source + destination + [0, 17] + be16(udpLength)))
    let udp = be16(6000) + be16(7777) + be16(udpLength) + be16(pseudo) + payload
    return destinationMAC + TapBackendTests.guestMAC + [0x08, 0x00] + ip + udp
}
