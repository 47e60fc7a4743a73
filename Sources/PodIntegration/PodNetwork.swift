// Wires one pod interface for a guest, as KubeVirt's virt-handler/virt-launcher do, and undoes it.
// Every step that changes the system first records how to undo it; teardown replays the records in
// reverse, so a setup that fails half-way leaves nothing behind and teardown is idempotent.
//
// Runs in the calling thread's network namespace: in the launcher that is the pod's; tests run it
// on a thread inside a test namespace (NetworkNamespace.run).
import Glibc
import Synchronization
import SystemPackage
import VirtioDevices

public final class PodNetwork: Sendable {
    public let configuration: PodNetworkConfiguration
    /// The tap the VMM attaches to (by name with `openTap()`, or the launcher passes the fd).
    public let tapName: InterfaceName
    /// The MAC the guest's virtio-net must use: DHCP answers only this MAC.
    public let guestMAC: MACAddress
    /// What DHCP gives the guest: address/prefix, router, MTU.
    public let guestAddress: IPv4Interface?
    public let guestRouter: IPv4Address?
    public let mtu: Int
    public let dns: ResolvConf
    /// The DHCP server (started when `startDHCPThread`); nil for a bridge binding on an interface
    /// without IPv4 (KubeVirt then bridges L2 only).
    public let dhcpServer: DHCPServer?
    /// The pod interface as it was found.
    public let original: PodInterfaceState

    private let undo: Mutex<[UndoStep]>

    enum UndoStep: Sendable {
        case deleteLink(InterfaceName)
        case deleteNftTable(String)
        case restoreSysctl(path: String, value: String)
        case restorePodInterface(PodInterfaceState)
        case stopDHCP(DHCPServer)
    }

    private init(configuration: PodNetworkConfiguration, guestMAC: MACAddress, guestAddress: IPv4Interface?,
                 guestRouter: IPv4Address?, mtu: Int, dns: ResolvConf, dhcpServer: DHCPServer?,
                 original: PodInterfaceState, undo: [UndoStep]) {
        self.configuration = configuration
        self.tapName = configuration.tapName
        self.guestMAC = guestMAC
        self.guestAddress = guestAddress
        self.guestRouter = guestRouter
        self.mtu = mtu
        self.dns = dns
        self.dhcpServer = dhcpServer
        self.original = original
        self.undo = Mutex(undo)
    }

    /// Sets up the binding. On failure everything done so far is undone and the error rethrown.
    public static func setup(_ c: PodNetworkConfiguration,
                             log: @escaping @Sendable (String) -> Void = { _ in }) throws(PodNetworkError) -> PodNetwork {
        var steps: [UndoStep] = []
        do {
            switch c.binding {
            case .masquerade: return try masquerade(c, &steps, log)
            case .bridge: return try bridge(c, &steps, log)
            }
        } catch {
            _ = runUndo(steps.reversed())
            throw error
        }
    }

    /// Opens the tap for the VMM: non-blocking, single queue, vnet header.
    public func openTap(nonBlocking: Bool = true) throws(PodNetworkError) -> FileDescriptor {
        try TapDevice.open(tapName, nonBlocking: nonBlocking)
    }

    /// Stops DHCP and removes or restores everything setup changed. Idempotent: a second call does
    /// nothing. Every step is tried; the first failure is thrown afterwards.
    public func teardown() throws(PodNetworkError) {
        let steps = undo.withLock { s -> [UndoStep] in defer { s = [] }; return s }
        if let e = Self.runUndo(steps.reversed()) { throw e }
    }

    private static func runUndo(_ steps: some Sequence<UndoStep>) -> PodNetworkError? {
        var first: PodNetworkError?
        for step in steps {
            do {
                switch step {
                case let .deleteLink(name): try LinkCommands.delete(name)
                case let .deleteNftTable(t): try NftablesMasquerade.remove(table: t)
                case let .restoreSysctl(path, value): try writeSysctl(path, value)
                case let .restorePodInterface(s): try restore(s)
                case let .stopDHCP(server): server.stop()
                }
            } catch {
                if first == nil { first = error }
            }
        }
        return first
    }

    private static func restore(_ s: PodInterfaceState) throws(PodNetworkError) {
        guard LinkCommands.exists(s.name) else { return }
        try LinkCommands.set(s.name, noMaster: true)
        try LinkCommands.set(s.name, up: false)
        try LinkCommands.set(s.name, mac: s.mac)
        try LinkCommands.set(s.name, up: true)
        if let a = s.address { try LinkCommands.replaceAddress(a, on: s.name) }
        if let g = s.gateway { try LinkCommands.replaceDefaultRoute(via: g, dev: s.name) }
    }

    /// Sets a sysctl, recording its old value for teardown.
    private static func sysctl(_ path: String, _ value: String, _ steps: inout [UndoStep]) throws(PodNetworkError) {
        let old = try readTextFile(path, limit: 64).trimmingNewlines
        guard old != value else { return }
        steps.append(.restoreSysctl(path: path, value: old))
        try writeSysctl(path, value)
    }

    private static func createTap(_ c: PodNetworkConfiguration, mtu: Int, _ steps: inout [UndoStep]) throws(PodNetworkError) {
        steps.append(.deleteLink(c.tapName))
        try TapDevice.createPersistent(c.tapName, owner: c.tapOwner, group: c.tapGroup)
        try LinkCommands.set(c.tapName, mtu: mtu, master: c.bridgeName, up: true)
    }

    private static func startDHCP(_ c: PodNetworkConfiguration, _ lease: DHCPLease, _ steps: inout [UndoStep],
                                  _ log: @escaping @Sendable (String) -> Void) throws(PodNetworkError) -> DHCPServer {
        let server = try DHCPServer(interface: c.bridgeName, lease: lease, log: log)
        steps.append(.stopDHCP(server))
        if c.startDHCPThread { try server.start() }
        return server
    }

    private static func masquerade(_ c: PodNetworkConfiguration, _ steps: inout [UndoStep],
                                   _ log: @escaping @Sendable (String) -> Void) throws(PodNetworkError) -> PodNetwork {
        let pod = try PodInterfaceState.read(c.podInterface)
        guard pod.address != nil else { throw .podInterface(c.podInterface, "has no IPv4 address to masquerade behind") }
        guard c.vmNetwork.prefixLength <= 30,
              let gateway = c.vmNetwork.network.advanced(by: 1), let guest = c.vmNetwork.network.advanced(by: 2),
              let gatewayIf = IPv4Interface(address: gateway, prefixLength: c.vmNetwork.prefixLength),
              let guestIf = IPv4Interface(address: guest, prefixLength: c.vmNetwork.prefixLength) else {
            throw .invalidConfiguration("vmNetworkCIDR \(c.vmNetwork) has no room for a gateway and a guest")
        }
        let guestMAC = c.guestMAC ?? MACAddress.random()
        guard !guestMAC.isMulticast, !guestMAC.isZero else { throw .invalidConfiguration("guest MAC \(guestMAC) is not unicast") }
        let dns = try ResolvConf.read(path: c.resolvConfPath)
        log("pod network: masquerade \(c.podInterface) (\(pod.address!), mtu \(pod.mtu)) -> guest \(guestIf) via \(gateway) on \(c.bridgeName)")

        steps.append(.deleteLink(c.bridgeName))
        try LinkCommands.addBridge(c.bridgeName, mac: PodNetworkConfiguration.masqueradeBridgeMAC, mtu: pod.mtu)
        try LinkCommands.replaceAddress(gatewayIf, on: c.bridgeName)
        try createTap(c, mtu: pod.mtu, &steps)
        try LinkCommands.set(c.bridgeName, up: true)
        // Forwarding between the bridge and the pod interface; route_localnet lets connections to
        // 127.0.0.1 that the output chain DNATs to the guest leave through the bridge (KubeVirt
        // sets both).
        // ip_forward is required; route_localnet only serves the 127.0.0.1 path, so a pod whose
        // /proc/sys is read-only still gets a working guest without it.
        try sysctl("/proc/sys/net/ipv4/ip_forward", "1", &steps)
        do { try sysctl("/proc/sys/net/ipv4/conf/\(c.bridgeName)/route_localnet", "1", &steps) } catch {
            log("pod network: \(error); connections to 127.0.0.1 will not reach the guest")
        }

        let nat = NftablesMasquerade(table: c.nftTable, podInterface: c.podInterface, bridge: c.bridgeName,
                                     gateway: gateway, guest: guest, ports: c.ports)
        steps.append(.deleteNftTable(c.nftTable))
        try nat.apply()

        let lease = DHCPLease(serverAddress: gateway, clientMAC: guestMAC, clientAddress: guestIf, router: gateway,
                              dnsServers: dns.nameservers, searchDomains: dns.searchDomains,
                              mtu: UInt16(clamping: pod.mtu), hostname: c.hostname, leaseSeconds: c.leaseSeconds)
        let server = try startDHCP(c, lease, &steps, log)
        return PodNetwork(configuration: c, guestMAC: guestMAC, guestAddress: guestIf, guestRouter: gateway,
                          mtu: pod.mtu, dns: dns, dhcpServer: server, original: pod, undo: steps)
    }

    private static func bridge(_ c: PodNetworkConfiguration, _ steps: inout [UndoStep],
                               _ log: @escaping @Sendable (String) -> Void) throws(PodNetworkError) -> PodNetwork {
        let pod = try PodInterfaceState.read(c.podInterface)
        let guestMAC = c.guestMAC ?? pod.mac
        guard !guestMAC.isMulticast, !guestMAC.isZero else { throw .invalidConfiguration("guest MAC \(guestMAC) is not unicast") }
        let dns = try ResolvConf.read(path: c.resolvConfPath)
        // The pod interface and the bridge take a new MAC: the original one moves to the guest.
        let hostMAC = MACAddress.randomLocallyAdministered()
        log("pod network: bridge \(c.podInterface) (\(pod.address.map { "\($0)" } ?? "no IPv4"), gw \(pod.gateway.map { "\($0)" } ?? "none"), \(pod.mac)) -> guest \(guestMAC) on \(c.bridgeName)")

        steps.append(.deleteLink(c.bridgeName))
        try LinkCommands.addBridge(c.bridgeName, mac: hostMAC, mtu: pod.mtu)
        // Recorded before the first change to the pod interface: restore is written to be safe
        // from any intermediate state.
        steps.append(.restorePodInterface(pod))
        if let a = pod.address { try LinkCommands.deleteAddress(a, from: c.podInterface) }
        try LinkCommands.set(c.podInterface, up: false)
        try LinkCommands.set(c.podInterface, mac: hostMAC, master: c.bridgeName)
        try LinkCommands.setPortLearning(c.podInterface, false)
        try LinkCommands.set(c.podInterface, up: true)
        try createTap(c, mtu: pod.mtu, &steps)
        try LinkCommands.set(c.bridgeName, up: true)

        guard let address = pod.address else {
            return PodNetwork(configuration: c, guestMAC: guestMAC, guestAddress: nil, guestRouter: nil,
                              mtu: pod.mtu, dns: dns, dhcpServer: nil, original: pod, undo: steps)
        }
        let serverIf = PodNetworkConfiguration.bridgeBindingServerAddress
        try LinkCommands.replaceAddress(serverIf, on: c.bridgeName)
        // A gateway outside the pod's subnet (point-to-point CNIs like Calico: /32 and 169.254.1.1)
        // is reachable only through a host route, which option 121 carries (clients then ignore
        // option 3, so the default route goes in the list too).
        var routes: [DHCPStaticRoute] = []
        if let g = pod.gateway, !address.contains(g) {
            routes = [DHCPStaticRoute(destination: IPv4Interface(address: g, prefixLength: 32)!, router: .any),
                      DHCPStaticRoute(destination: IPv4Interface(address: .any, prefixLength: 0)!, router: g)]
        }
        let lease = DHCPLease(serverAddress: serverIf.address, clientMAC: guestMAC, clientAddress: address,
                              router: pod.gateway, dnsServers: dns.nameservers, searchDomains: dns.searchDomains,
                              mtu: UInt16(clamping: pod.mtu), hostname: c.hostname, leaseSeconds: c.leaseSeconds,
                              staticRoutes: routes)
        let server = try startDHCP(c, lease, &steps, log)
        return PodNetwork(configuration: c, guestMAC: guestMAC, guestAddress: address, guestRouter: pod.gateway,
                          mtu: pod.mtu, dns: dns, dhcpServer: server, original: pod, undo: steps)
    }
}

extension String {
    var trimmingNewlines: String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        return String(s)
    }
}
