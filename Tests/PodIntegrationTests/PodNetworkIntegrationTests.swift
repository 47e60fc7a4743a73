// The pod network in real namespaces (see NetnsLab): masquerade and bridge bindings set up in "the
// pod", a real DHCP client (busybox udhcpc) in the guest stand-in, and TCP both ways through the
// NAT or the bridge. Skipped, with the reason printed, without root, /dev/net/tun or the tools.
import Foundation
import Glibc
import PodIntegration
import Synchronization
import Testing
import VirtioDevices

@Suite(.serialized, .enabled(if: NetnsRequirements.canRun, "needs root, /dev/net/tun, ip, nft, busybox, socat"))
struct PodNetworkIntegrationTests {
    @Test func masquerade() throws {
        let lab = try NetnsLab()
        defer { lab.cleanup() }
        var config = PodNetworkConfiguration(binding: .masquerade)
        config.guestMAC = MACAddress("52:54:00:aa:bb:02")!
        config.resolvConfPath = "\(lab.dir)/resolv.conf"
        config.hostname = "testvmi"
        let log = LogLines()
        let net = try lab.inPod { [config] () throws(PodNetworkError) in try PodNetwork.setup(config, log: log.append) }
        defer { _ = try? lab.inPod { () throws(PodNetworkError) in try net.teardown() } }
        #expect(net.mtu == NetnsLab.mtu)
        #expect(net.tapName == "tap0")
        #expect(net.guestAddress == IPv4Interface("10.0.2.2/24"))

        // The tap exists with the pod's MTU, on the bridge, and the VMM can attach to it.
        let tapInfo = try lab.ip("-n", lab.pod, "-d", "link", "show", "tap0")
        #expect(tapInfo.contains("mtu \(NetnsLab.mtu)") && tapInfo.contains("master k6t-eth0"))
        #expect(tapInfo.contains("tun type tap") && tapInfo.contains("vnet_hdr on") && tapInfo.contains("pi off") && !tapInfo.contains("multi_queue"))
        #expect(try lab.ip("-n", lab.pod, "-4", "addr", "show", "k6t-eth0").contains("10.0.2.1/24"))
        let fd = try lab.inPod { () throws(PodNetworkError) in try net.openTap().rawValue }
        close(fd)

        // The guest stand-in: a veth with the guest's MAC on the bridge.
        try lab.ip("-n", lab.guest, "link", "set", "g0", "address", "52:54:00:aa:bb:02", "up")
        try lab.ip("-n", lab.pod, "link", "set", "gport", "master", "k6t-eth0", "up")
        let lease = try lab.dhcp()
        #expect(lease["ip"] == "10.0.2.2")
        #expect(lease["router"] == "10.0.2.1")
        #expect(lease["subnet"] == "255.255.255.0")
        #expect(lease["dns"]?.split(separator: " ").contains("10.96.0.10") == true)
        #expect(lease["mtu"] == "\(NetnsLab.mtu)")
        #expect(lease["hostname"] == "testvmi")
        #expect(lease["domain"] == "default.svc.cluster.local")
        #expect(lease["serverid"] == "10.0.2.1")

        try lab.ip("-n", lab.guest, "addr", "add", "10.0.2.2/24", "dev", "g0")
        try lab.ip("-n", lab.guest, "route", "add", "default", "via", "10.0.2.1")
        // Inbound: the outside connects to the pod IP; DNAT delivers it to the guest, which sees
        // the real client address.
        try lab.listen(lab.guest, port: 8080, tag: "guest")
        #expect(try lab.connect(lab.outside, NetnsLab.podAddress, 8080) == "guest-\(NetnsLab.outsideAddress)")
        // Outbound: the guest connects out; the outside sees the pod IP (masquerade).
        try lab.listen(lab.outside, port: 9090, tag: "outside")
        #expect(try lab.connect(lab.guest, NetnsLab.outsideAddress, 9090) == "outside-\(NetnsLab.podAddress)")

        // Hostile datagrams at the server (random bytes, a cut header, a bad option length) are
        // dropped, and it still answers the next client.
        for junk in ["head -c 700 /dev/urandom", "head -c 100 /dev/zero", "printf '\\001\\001\\006'"] {
            try lab.exec(lab.guest, ["sh", "-c", "\(junk) | socat -u - UDP-SENDTO:10.0.2.1:67"])
        }
        #expect(try lab.dhcp()["ip"] == "10.0.2.2")
        #expect(log.lines.filter { $0.contains("dropped packet") }.count >= 3)

        // Teardown removes the bridge, the tap and the table, and a second one does nothing.
        try lab.inPod { () throws(PodNetworkError) in try net.teardown() }
        try lab.inPod { () throws(PodNetworkError) in try net.teardown() }
        let links = try lab.ip("-n", lab.pod, "link", "show")
        #expect(!links.contains("k6t-eth0") && !links.contains("tap0"))
        #expect(!(try lab.exec(lab.pod, ["nft", "list", "tables"])).contains("k6t_nat"))
    }

    @Test func masqueradeListedPortsOnly() throws {
        let lab = try NetnsLab()
        defer { lab.cleanup() }
        var config = PodNetworkConfiguration(binding: .masquerade)
        config.guestMAC = MACAddress("52:54:00:aa:bb:03")!
        config.resolvConfPath = "\(lab.dir)/resolv.conf"
        config.ports = [ForwardedPort(port: 8080)!]
        let net = try lab.inPod { [config] () throws(PodNetworkError) in try PodNetwork.setup(config) }
        defer { _ = try? lab.inPod { () throws(PodNetworkError) in try net.teardown() } }
        try lab.ip("-n", lab.guest, "link", "set", "g0", "address", "52:54:00:aa:bb:03", "up")
        try lab.ip("-n", lab.pod, "link", "set", "gport", "master", "k6t-eth0", "up")
        #expect(try lab.dhcp()["ip"] == "10.0.2.2")
        try lab.ip("-n", lab.guest, "addr", "add", "10.0.2.2/24", "dev", "g0")
        try lab.ip("-n", lab.guest, "route", "add", "default", "via", "10.0.2.1")
        try lab.listen(lab.guest, port: 8080, tag: "guest")
        try lab.listen(lab.guest, port: 8081, tag: "guest")
        #expect(try lab.connect(lab.outside, NetnsLab.podAddress, 8080) == "guest-\(NetnsLab.outsideAddress)")
        // 8081 is not listed: it reaches the pod itself, where nothing listens.
        #expect(throws: (any Error).self) {
            try lab.exec(lab.outside, ["socat", "-T", "1", "-", "TCP:\(NetnsLab.podAddress):8081,connect-timeout=1"])
        }
    }

    @Test func bridge() throws {
        let lab = try NetnsLab()
        defer { lab.cleanup() }
        var config = PodNetworkConfiguration(binding: .bridge)
        config.resolvConfPath = "\(lab.dir)/resolv.conf"
        let net = try lab.inPod { [config] () throws(PodNetworkError) in try PodNetwork.setup(config) }
        defer { _ = try? lab.inPod { () throws(PodNetworkError) in try net.teardown() } }
        // The guest takes the pod interface's MAC and address; eth0 gets a new MAC and no address.
        #expect(net.guestMAC == MACAddress(NetnsLab.podMAC))
        #expect(net.guestAddress == IPv4Interface("\(NetnsLab.podAddress)/24"))
        #expect(net.guestRouter == IPv4Address(NetnsLab.outsideAddress))
        let eth0 = try lab.ip("-n", lab.pod, "-d", "addr", "show", "eth0")
        #expect(!eth0.contains(NetnsLab.podAddress) && !eth0.contains(NetnsLab.podMAC) && eth0.contains("master k6t-eth0"))

        try lab.ip("-n", lab.guest, "link", "set", "g0", "address", NetnsLab.podMAC, "up")
        try lab.ip("-n", lab.pod, "link", "set", "gport", "master", "k6t-eth0", "up")
        let lease = try lab.dhcp()
        #expect(lease["ip"] == NetnsLab.podAddress)
        #expect(lease["router"] == NetnsLab.outsideAddress)
        #expect(lease["subnet"] == "255.255.255.0")
        #expect(lease["dns"]?.split(separator: " ").contains("10.96.0.10") == true)
        #expect(lease["mtu"] == "\(NetnsLab.mtu)")

        try lab.ip("-n", lab.guest, "addr", "add", "\(NetnsLab.podAddress)/24", "dev", "g0")
        try lab.ip("-n", lab.guest, "route", "add", "default", "via", NetnsLab.outsideAddress)
        try lab.listen(lab.outside, port: 9090, tag: "outside")
        #expect(try lab.connect(lab.guest, NetnsLab.outsideAddress, 9090) == "outside-\(NetnsLab.podAddress)")
        try lab.listen(lab.guest, port: 8080, tag: "guest")
        #expect(try lab.connect(lab.outside, NetnsLab.podAddress, 8080) == "guest-\(NetnsLab.outsideAddress)")

        // Teardown gives eth0 back its MAC, address and default route.
        try lab.inPod { () throws(PodNetworkError) in try net.teardown() }
        try lab.inPod { () throws(PodNetworkError) in try net.teardown() }
        let restored = try lab.ip("-n", lab.pod, "addr", "show", "eth0")
        #expect(restored.contains("\(NetnsLab.podAddress)/24") && restored.contains(NetnsLab.podMAC))
        #expect(try lab.ip("-n", lab.pod, "route", "show", "default").contains("via \(NetnsLab.outsideAddress)"))
        #expect(!(try lab.ip("-n", lab.pod, "link", "show")).contains("k6t-eth0"))
    }

    /// A server that cannot bind (no such bridge) fails setup and leaves nothing behind.
    @Test func failedSetupUndoesItself() throws {
        let lab = try NetnsLab()
        defer { lab.cleanup() }
        var config = PodNetworkConfiguration(binding: .masquerade)
        config.resolvConfPath = "\(lab.dir)/missing-resolv.conf"
        #expect(throws: PodNetworkError.self) {
            try lab.inPod { [config] () throws(PodNetworkError) in try PodNetwork.setup(config) }
        }
        config.resolvConfPath = "\(lab.dir)/resolv.conf"
        config.nftTable = "bad table"
        #expect(throws: PodNetworkError.self) {
            try lab.inPod { [config] () throws(PodNetworkError) in try PodNetwork.setup(config) }
        }
        let links = try lab.ip("-n", lab.pod, "link", "show")
        #expect(!links.contains("k6t-eth0") && !links.contains("tap0"))
        #expect(try lab.ip("-n", lab.pod, "addr", "show", "eth0").contains("\(NetnsLab.podAddress)/24"))
    }
}

/// What the pod network logged, collected across threads.
final class LogLines: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}
