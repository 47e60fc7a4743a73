// From the resolved VMI interface (LaunchInterface, text as the dry run prints it) to the typed pod
// network configuration: every value is parsed here, and a value that does not parse is an error
// naming the field, before anything touches the system.
import VirtioDevices

extension PodNetworkConfiguration {
    public init(_ nic: LaunchInterface, resolvConfPath: String = "/etc/resolv.conf",
                hostname: String? = nil) throws(PodNetworkError) {
        func bad(_ field: String, _ value: String) -> PodNetworkError {
            .invalidConfiguration("\(nic.name): \(field) '\(value.prefix(64))' is not valid")
        }
        self.init(binding: nic.binding == .bridge ? .bridge : .masquerade)
        guard let pod = InterfaceName(nic.podInterface) else { throw bad("podInterface", nic.podInterface) }
        guard let tap = InterfaceName(nic.tapName) else { throw bad("tapName", nic.tapName) }
        guard let bridge = InterfaceName(nic.bridgeName) else { throw bad("bridgeName", nic.bridgeName) }
        podInterface = pod
        tapName = tap
        bridgeName = bridge
        // A bridge-bound guest without an explicit macAddress takes the pod interface's MAC
        // (KubeVirt); a generated one is only for masquerade.
        if !(nic.binding == .bridge && nic.macGenerated) {
            guard let mac = MACAddress(nic.macAddress) else { throw bad("macAddress", nic.macAddress) }
            guestMAC = mac
        }
        if nic.binding == .masquerade {
            if let g = nic.guestAddress, let n = nic.prefixLength {
                guard let a = IPv4Address(g), let net = IPv4Interface(address: a, prefixLength: n) else {
                    throw bad("guestAddress", "\(g)/\(n)")
                }
                vmNetwork = IPv4Interface(address: net.network, prefixLength: n)!
            }
            var forwarded: [ForwardedPort] = []
            for p in nic.ports {
                guard let proto = PortProtocol(kubernetes: p.proto.isEmpty ? "tcp" : p.proto) else { throw bad("ports.protocol", p.proto) }
                guard let fp = ForwardedPort(port: p.port, proto: proto) else { throw bad("ports.port", String(p.port)) }
                forwarded.append(fp)
            }
            ports = forwarded
        }
        self.resolvConfPath = resolvConfPath
        self.hostname = hostname
    }
}
