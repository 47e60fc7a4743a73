// The typed values every command and script is built from, resolv.conf parsing, the route table
// reader and the exact nft script.
import Testing
@testable import PodIntegration
import VirtioDevices

@Suite struct PodNetworkValuesTests {
    @Test func ipv4Parsing() {
        #expect(IPv4Address("10.0.2.2") == IPv4Address(10, 0, 2, 2))
        #expect(IPv4Address("255.255.255.255") == .broadcast)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..3.4", "1.2.3.4/24"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
        let i = IPv4Interface("192.168.7.9/20")!
        #expect(i.network == IPv4Address(192, 168, 0, 0) && i.netmask == IPv4Address(255, 255, 240, 0))
        #expect(i.contains(IPv4Address(192, 168, 15, 255)) && !i.contains(IPv4Address(192, 168, 16, 0)))
        #expect(IPv4Interface("1.2.3.4/33") == nil && IPv4Interface("1.2.3.4/") == nil && IPv4Interface("1.2.3.4/+1") == nil)
        #expect(IPv4Interface.prefixLength(ofNetmask: IPv4Address(255, 255, 255, 0)) == 24)
        #expect(IPv4Interface.prefixLength(ofNetmask: .any) == 0)
        #expect(IPv4Interface.prefixLength(ofNetmask: .broadcast) == 32)
        #expect(IPv4Interface.prefixLength(ofNetmask: IPv4Address(255, 0, 255, 0)) == nil)
    }

    @Test func interfaceNames() {
        for good in ["eth0", "k6t-eth0", "tap0", "a", "123456789012345", "net1_x.y"] {
            #expect(InterfaceName(good) != nil, "\(good)")
        }
        #expect(InterfaceName.validate("") == .empty)
        #expect(InterfaceName.validate("1234567890123456") == .tooLong(16))
        #expect(InterfaceName.validate(".") == .dotName)
        #expect(InterfaceName.validate("..") == .dotName)
        for (bad, c) in [("a/b", "/"), ("a:b", ":"), ("a b", " "), ("a\"b", "\""), ("a\\b", "\\"), ("a\nb", "\n"), ("a;b'", "'")] {
            #expect(InterfaceName.validate(bad) == .forbiddenCharacter(UInt8(ascii: Unicode.Scalar(c)!)), "\(bad)")
        }
        let accented = "eth\u{e9}"
        #expect(InterfaceName(accented) == nil)
    }

    @Test func macHelpers() {
        let m = MACAddress.randomLocallyAdministered()
        #expect(m.bytes[0] & 0x03 == 0x02 && !m.isMulticast && !m.isZero)
        #expect(MACAddress(bytes: [1, 0, 0, 0, 0, 0])!.isMulticast)
        #expect(PortProtocol(kubernetes: "UDP") == .udp && PortProtocol(kubernetes: "icmp") == nil)
        #expect(ForwardedPort(port: 0) == nil && ForwardedPort(port: 65536) == nil && ForwardedPort(port: 80)?.proto == .tcp)
    }

    @Test func resolvConf() {
        let r = ResolvConf.parse("""
            # written by the kubelet
            nameserver 10.96.0.10
            nameserver fd00::10
            nameserver 10.96.0.10 ; duplicate
            nameserver bogus
            search first.example
            search default.svc.cluster.local svc.cluster.local cluster.local bad..name
            options ndots:5
            nameserver\t8.8.8.8\r
            """)
        #expect(r.nameservers == [IPv4Address(10, 96, 0, 10), IPv4Address(8, 8, 8, 8)])
        #expect(r.ipv6Nameservers == ["fd00::10"])
        #expect(r.searchDomains == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"])
        #expect(ResolvConf.parse("domain corp.example\n").searchDomains == ["corp.example"])
        #expect(ResolvConf.parse("").nameservers.isEmpty)
        #expect(ResolvConf.parse(String(repeating: "nameserver 1.1.1.1\nnameserver 1.1.1.2\n", count: 100)).nameservers.count == 2)
        #expect(ResolvConf.parse((0..<50).map { "nameserver 10.0.0.\($0)" }.joined(separator: "\n")).nameservers.count == ResolvConf.maxNameservers)
    }

    @Test func defaultGatewayFromRouteTable() {
        let table = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t014DA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
            eth0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            eth0\t00000000\t024DA8C0\t0003\t0\t0\t10\t00000000\t0\t0\t0
            eth1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            """
        #expect(PodInterfaceState.defaultGateway(routeTable: table, interface: "eth0") == IPv4Address(192, 168, 77, 2))
        #expect(PodInterfaceState.defaultGateway(routeTable: table, interface: "eth2") == nil)
        #expect(PodInterfaceState.defaultGateway(routeTable: "garbage\nx y z", interface: "eth0") == nil)
    }

    @Test func nftScriptAllPorts() throws {
        let nat = NftablesMasquerade(podInterface: "eth0", bridge: "k6t-eth0", gateway: IPv4Address(10, 0, 2, 1),
                                     guest: IPv4Address(10, 0, 2, 2), ports: [])
        #expect(try nat.script() == """
            add table ip k6t_nat
            delete table ip k6t_nat
            table ip k6t_nat {
            \tchain prerouting {
            \t\ttype nat hook prerouting priority -100; policy accept;
            \t\tiifname "eth0" counter jump KUBEVIRT_PREINBOUND
            \t}
            \tchain input {
            \t\ttype nat hook input priority 100; policy accept;
            \t}
            \tchain output {
            \t\ttype nat hook output priority -100; policy accept;
            \t\tip daddr { 127.0.0.1 } counter dnat to 10.0.2.2
            \t}
            \tchain postrouting {
            \t\ttype nat hook postrouting priority 100; policy accept;
            \t\tip saddr 10.0.2.2 counter masquerade
            \t\toifname "k6t-eth0" counter jump KUBEVIRT_POSTINBOUND
            \t}
            \tchain KUBEVIRT_PREINBOUND {
            \t\tcounter dnat to 10.0.2.2
            \t}
            \tchain KUBEVIRT_POSTINBOUND {
            \t\tip saddr { 127.0.0.1 } counter snat to 10.0.2.1
            \t}
            }

            """)
    }

    @Test func nftScriptListedPorts() throws {
        let nat = NftablesMasquerade(table: "t1", podInterface: "eth0", bridge: "k6t-eth0", gateway: IPv4Address(10, 0, 2, 1),
                                     guest: IPv4Address(10, 0, 2, 2),
                                     ports: [ForwardedPort(port: 80)!, ForwardedPort(port: 53, proto: .udp)!])
        let s = try nat.script()
        #expect(s.contains("\tchain KUBEVIRT_PREINBOUND {\n\t\ttcp dport { 80 } counter dnat to 10.0.2.2\n\t\tudp dport { 53 } counter dnat to 10.0.2.2\n\t}\n"))
        #expect(s.contains("\tchain KUBEVIRT_POSTINBOUND {\n\t\ttcp dport 80 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1\n\t\tudp dport 53 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1\n\t}\n"))
        #expect(s.contains("\t\tip daddr { 127.0.0.1 } tcp dport 80 counter dnat to 10.0.2.2\n\t\tip daddr { 127.0.0.1 } udp dport 53 counter dnat to 10.0.2.2\n"))
        #expect(s.hasPrefix("add table ip t1\ndelete table ip t1\ntable ip t1 {\n"))
    }

    @Test func nftTableNameValidated() {
        for bad in ["", "1nat", "nat;flush ruleset", "a b", String(repeating: "a", count: 65)] {
            let nat = NftablesMasquerade(table: bad, podInterface: "eth0", bridge: "k6t-eth0",
                                         gateway: .any, guest: .any, ports: [])
            #expect(throws: PodNetworkError.self) { try nat.script() }
        }
    }

    @Test func hostCommandReportsFailure() throws {
        #expect(try HostCommand("cat", []).run(input: Array("hello".utf8)) == "hello")
        #expect(throws: PodNetworkError.self) { try HostCommand("false", []).run() }
        do {
            try HostCommand("sh", ["-c", "echo oops >&2; exit 3"]).run()
            Issue.record("no error")
        } catch let .commandFailed(args, status, output) {
            #expect(args.contains("-c"))
            #expect(status == 3 && output == "oops\n")
        } catch { Issue.record("\(error)") }
    }

    @Test func fromLaunchInterface() throws {
        var nic = LaunchInterface(name: "default", network: "default", binding: .masquerade, model: "virtio",
                                  macAddress: "52:54:00:01:02:03", macGenerated: false, podInterface: "eth0",
                                  tapName: "tap0", bridgeName: "k6t-eth0", guestAddress: "10.11.0.2",
                                  gatewayAddress: "10.11.0.1", prefixLength: 24,
                                  ports: [LaunchPort(name: "http", proto: "TCP", port: 80), LaunchPort(name: nil, proto: "UDP", port: 53)])
        let c = try PodNetworkConfiguration(nic)
        #expect(c.binding == .masquerade && c.guestMAC == MACAddress("52:54:00:01:02:03"))
        #expect(c.vmNetwork == IPv4Interface("10.11.0.0/24"))
        #expect(c.ports == [ForwardedPort(port: 80)!, ForwardedPort(port: 53, proto: .udp)!])
        nic.binding = .bridge
        nic.macGenerated = true
        #expect(try PodNetworkConfiguration(nic).guestMAC == nil)
        nic.tapName = "tap0; rm -rf /"
        #expect(throws: PodNetworkError.self) { try PodNetworkConfiguration(nic) }
        nic.tapName = "tap0"
        nic.binding = .masquerade
        nic.ports = [LaunchPort(name: nil, proto: "ICMP", port: 1)]
        #expect(throws: PodNetworkError.self) { try PodNetworkConfiguration(nic) }
    }
}
