// Interfaces and networks: the launcher wires the pod network only, with masquerade (NAT behind
// 10.0.2.1, KubeVirt's default VM network 10.0.2.0/24) or bridge binding (the guest takes the pod's
// address), on a virtio-net NIC. Names inside the pod follow KubeVirt: pod interface eth0, tap0,
// bridge k6t-eth0 (pkg/network: GenerateTapDeviceName, GenerateInPodBridgeInterfaceName).

extension VMIResolver {
    func resolveNetwork(_ spec: VMISpec, meta: ResolvedMetadata, _ issues: inout VMIIssues) -> [LaunchInterface] {
        var interfaces = spec.domain.devices.interfaces
        var networks = spec.networks
        let devicesPath = spec.domain.devices.path
        // KubeVirt's defaulting: with neither interfaces nor networks (and autoattachPodInterface
        // not false), the VMI gets the pod network as `default` with the cluster's default binding,
        // bridge unless the cluster configures otherwise.
        if interfaces.isEmpty, networks.isEmpty, spec.domain.devices.autoattachPodInterface != false {
            issues.note(devicesPath.key("interfaces"), "none given: the pod network is attached as 'default' with bridge binding, as KubeVirt's defaulting does")
            networks = [NetworkSpec(path: spec.path.key("networks"), name: "default", pod: PodNetworkSpec())]
            interfaces = [InterfaceSpec(path: devicesPath.key("interfaces"), name: "default", bindings: ["bridge"])]
        }

        var networkByName: [String: NetworkSpec] = [:]
        var podNetworks = 0
        for network in networks {
            guard let name = network.name else { issues.error(network.path.key("name"), "required"); continue }
            guard networkByName[name] == nil else {
                issues.error(network.path.key("name"), "'\(name.clipped)' is used by another network")
                continue
            }
            networkByName[name] = network
            if network.multus {
                issues.error(network.path.key("multus"), "Multus networks are not wired by the launcher; only the pod network is")
            } else if network.pod != nil {
                podNetworks += 1
                if podNetworks > 1 { issues.error(network.path.key("pod"), "only one pod network is allowed") }
            } else {
                issues.error(network.path, "needs a source: pod: {} (the only one the launcher wires)")
            }
            if !interfaces.contains(where: { $0.name == name }) {
                issues.error(network.path.key("name"), "no interface named '\(name.clipped)' in \(devicesPath.key("interfaces"))")
            }
        }

        var result: [LaunchInterface] = []
        var seen = Set<String>()
        for iface in interfaces {
            guard let name = iface.name else { issues.error(iface.path.key("name"), "required"); continue }
            guard seen.insert(name).inserted else {
                issues.error(iface.path.key("name"), "'\(name.clipped)' is used by another interface")
                continue
            }
            let binding = checkBinding(iface, &issues)
            var ok = binding != nil
            if let model = iface.model, model != "virtio" {
                issues.error(iface.path.key("model"), "model '\(model.clipped)' is not emulated: the launcher has virtio-net only (model: virtio)")
                ok = false
            }
            var mac: String?
            if let given = iface.macAddress {
                mac = normalizedMAC(given)
                if mac == nil {
                    issues.error(iface.path.key("macAddress"), "'\(given.clipped)' is not a unicast MAC address (six hex pairs separated by ':' or '-')")
                    ok = false
                }
            }
            let ports = resolvePorts(iface, binding: binding, &issues)
            guard let network = networkByName[name] else {
                issues.error(iface.path.key("name"), "no network named '\(name.clipped)' in \(spec.path.key("networks"))")
                continue
            }
            guard ok, let binding, let ports, let pod = network.pod, !network.multus else { continue }
            var nic = LaunchInterface(
                name: name, network: name, binding: binding, model: "virtio",
                macAddress: mac ?? generatedMAC(namespace: meta.namespace, name: meta.name, interface: name),
                macGenerated: mac == nil, podInterface: "eth0", tapName: "tap0", bridgeName: "k6t-eth0",
                guestAddress: nil, gatewayAddress: nil, prefixLength: nil, ports: ports)
            if binding == .masquerade {
                guard let net = vmNetwork(pod, at: network.path.key("pod"), &issues) else { continue }
                nic.guestAddress = net.guest
                nic.gatewayAddress = net.gateway
                nic.prefixLength = net.prefix
            }
            result.append(nic)
        }
        return result
    }

    private func checkBinding(_ iface: InterfaceSpec, _ issues: inout VMIIssues) -> LaunchInterface.Binding? {
        let reasons = [
            "sriov": "SR-IOV needs a VFIO-assigned virtual function; the launcher has virtio-net only",
            "slirp": "slirp (user-mode networking) is not supported: use masquerade",
            "macvtap": "macvtap binding is not supported: use masquerade or bridge",
            "passt": "passt binding is not supported: use masquerade",
            "binding": "network binding plugins are not supported: use masquerade or bridge",
        ]
        if iface.bindings.count > 1 {
            issues.error(iface.path, "sets \(iface.bindings.joined(separator: " and ")): an interface has exactly one binding")
            return nil
        }
        guard let key = iface.bindings.first else {
            issues.error(iface.path, "no binding: set masquerade: {} or bridge: {}")
            return nil
        }
        if let reason = reasons[key] {
            issues.error(iface.path.key(key), reason)
            return nil
        }
        return key == "masquerade" ? .masquerade : .bridge
    }

    /// Ports are forwarded by masquerade only; an empty list forwards everything.
    private func resolvePorts(_ iface: InterfaceSpec, binding: LaunchInterface.Binding?, _ issues: inout VMIIssues) -> [LaunchPort]? {
        if !iface.ports.isEmpty, binding == .bridge {
            issues.error(iface.path.key("ports"), "ports are forwarded only with masquerade binding; with bridge the guest has the pod's address and every port")
            return nil
        }
        var ports: [LaunchPort] = []
        var ok = true
        for p in iface.ports {
            let proto = p.proto ?? "TCP"
            guard proto == "TCP" || proto == "UDP" else {
                issues.error(p.path.key("protocol"), "'\(proto.clipped)' is not supported: expected TCP or UDP")
                ok = false
                continue
            }
            guard let port = p.port else {
                // An out-of-range value was already reported where it was read.
                if !issues.errors.contains(where: { $0.path == p.path.key("port") }) { issues.error(p.path.key("port"), "required: 1...65535") }
                ok = false
                continue
            }
            ports.append(LaunchPort(name: p.name, proto: proto, port: Int(port)))
        }
        return ok ? ports : nil
    }

    /// The masquerade VM network: `vmNetworkCIDR` (default 10.0.2.0/24); the gateway is the first
    /// host address and the guest the second, as KubeVirt assigns them.
    private func vmNetwork(_ pod: PodNetworkSpec, at path: FieldPath, _ issues: inout VMIIssues) -> (guest: String, gateway: String, prefix: Int)? {
        if pod.vmIPv6NetworkCIDR != nil {
            issues.note(path.key("vmIPv6NetworkCIDR"), "ignored: the launcher's masquerade network is IPv4 only for now")
        }
        let cidr = pod.vmNetworkCIDR ?? "10.0.2.0/24"
        guard let (network, prefix) = parseIPv4CIDR(cidr), prefix <= 30 else {
            issues.error(path.key("vmNetworkCIDR"), "'\(cidr.clipped)' is not an IPv4 network with room for a gateway and a guest (a.b.c.d/n, n at most 30)")
            return nil
        }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        let base = network & mask
        return (formatIPv4(base + 2), formatIPv4(base + 1), prefix)
    }
}

func parseIPv4CIDR(_ text: String) -> (UInt32, Int)? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let prefix = Int(parts[1]), (0...32).contains(prefix), parts[1].count <= 2 else { return nil }
    let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
    guard octets.count == 4 else { return nil }
    var address: UInt32 = 0
    for o in octets {
        guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt32(o), v <= 255 else { return nil }
        address = address << 8 | v
    }
    return (address, prefix)
}

func formatIPv4(_ a: UInt32) -> String {
    "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
}

/// `aa:bb:cc:dd:ee:ff` in lowercase, or nil when `text` is not a unicast MAC.
func normalizedMAC(_ text: String) -> String? {
    let parts = text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    var bytes: [UInt8] = []
    for p in parts {
        guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
        bytes.append(b)
    }
    guard bytes[0] & 1 == 0 else { return nil }  // multicast bit
    return bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
}

/// A locally administered MAC derived from the VMI and interface (FNV-1a), so a restarted launcher
/// gives the guest the same address and the same DHCP lease.
func generatedMAC(namespace: String, name: String, interface: String) -> String {
    var hash: UInt64 = 0xcbf29ce484222325
    for byte in "\(namespace)/\(name)/\(interface)".utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x100000001b3
    }
    let bytes: [UInt8] = [0x02] + (0..<5).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
    return bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
}
