// The masquerade binding's NAT, as KubeVirt builds it (pkg/network/setup/netpod/masquerade): chains
// prerouting/input/output/postrouting plus KUBEVIRT_PREINBOUND and KUBEVIRT_POSTINBOUND, with
// - postrouting: the guest's address is masqueraded behind the pod IP;
// - prerouting: what arrives on the pod interface jumps to KUBEVIRT_PREINBOUND, which DNATs all of
//   it (or only the listed ports) to the guest;
// - output: connections to 127.0.0.1 from inside the pod go to the guest too, and
//   KUBEVIRT_POSTINBOUND SNATs them to the gateway so the guest's replies come back through us.
// One difference: the rules live in their own table (`k6t_nat` by default), not in `ip nat`, so
// teardown can delete exactly what it made and never touches an iptables-nft `nat` table (Istio).
// The script is applied in one `nft -f -` transaction; every value in it is a typed value.

/// The NAT rules of one masquerade-bound interface.
public struct NftablesMasquerade: Sendable, Equatable {
    public var table: String
    public var podInterface: InterfaceName
    public var bridge: InterfaceName
    public var gateway: IPv4Address
    public var guest: IPv4Address
    /// Empty: every port (KubeVirt's default); else only these, each with its protocol.
    public var ports: [ForwardedPort]

    public init(table: String = "k6t_nat", podInterface: InterfaceName, bridge: InterfaceName,
                gateway: IPv4Address, guest: IPv4Address, ports: [ForwardedPort]) {
        self.table = table
        self.podInterface = podInterface
        self.bridge = bridge
        self.gateway = gateway
        self.guest = guest
        self.ports = ports
    }

    /// An nft table name: an identifier ([a-zA-Z][a-zA-Z0-9_]*), at most 64 bytes.
    static func validTable(_ t: String) -> Bool {
        let u = Array(t.utf8)
        guard let f = u.first, (1...64).contains(u.count), isLetter(f) else { return false }
        return u.allSatisfy { isLetter($0) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") }
    }
    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 97 && (c | 0x20) <= 122 }

    /// The whole script. It first creates then deletes the table, so applying it again replaces the
    /// rules instead of doubling them, all inside one transaction.
    public func script() throws(PodNetworkError) -> String {
        guard Self.validTable(table) else { throw .invalidConfiguration("nft table name \(table)") }
        let lo = IPv4Address.loopback
        var pre: [String] = [], post: [String] = [], output: [String] = []
        if ports.isEmpty {
            pre.append("counter dnat to \(guest)")
            post.append("ip saddr { \(lo) } counter snat to \(gateway)")
            output.append("ip daddr { \(lo) } counter dnat to \(guest)")
        } else {
            for p in ports {
                pre.append("\(p.proto.rawValue) dport { \(p.port) } counter dnat to \(guest)")
                post.append("\(p.proto.rawValue) dport \(p.port) ip saddr { \(lo) } counter snat to \(gateway)")
                output.append("ip daddr { \(lo) } \(p.proto.rawValue) dport \(p.port) counter dnat to \(guest)")
            }
        }
        func chain(_ name: String, _ hook: String?, _ rules: [String]) -> String {
            var s = "\tchain \(name) {\n"
            if let hook { s += "\t\t\(hook)\n" }
            for r in rules { s += "\t\t\(r)\n" }
            return s + "\t}\n"
        }
        return "add table ip \(table)\n"
            + "delete table ip \(table)\n"
            + "table ip \(table) {\n"
            + chain("prerouting", "type nat hook prerouting priority -100; policy accept;",
                    ["iifname \"\(podInterface)\" counter jump KUBEVIRT_PREINBOUND"])
            + chain("input", "type nat hook input priority 100; policy accept;", [])
            + chain("output", "type nat hook output priority -100; policy accept;", output)
            + chain("postrouting", "type nat hook postrouting priority 100; policy accept;",
                    ["ip saddr \(guest) counter masquerade",
                     "oifname \"\(bridge)\" counter jump KUBEVIRT_POSTINBOUND"])
            + chain("KUBEVIRT_PREINBOUND", nil, pre)
            + chain("KUBEVIRT_POSTINBOUND", nil, post)
            + "}\n"
    }

    /// Loads the rules (`nft -f -`, the script on stdin).
    public func apply() throws(PodNetworkError) {
        let s = try script()
        try HostCommand("nft", ["-f", "-"]).run(input: Array(s.utf8))
    }

    /// Deletes the table; a table that is already gone is not an error.
    public static func remove(table: String) throws(PodNetworkError) {
        guard validTable(table) else { throw .invalidConfiguration("nft table name \(table)") }
        // Create-then-delete in one transaction: succeeds whether or not the table existed.
        let s = "add table ip \(table)\ndelete table ip \(table)\n"
        try HostCommand("nft", ["-f", "-"]).run(input: Array(s.utf8))
    }
}
