// The DHCP server's decisions, without a socket: one lease for one client MAC (the guest), the
// answer to each request type (RFC 2131 §4.3), and the options in the answer, kept within the size
// the client accepts.
import VirtioDevices

/// A static route for option 121 (RFC 3442).
public struct DHCPStaticRoute: Equatable, Sendable {
    public let destination: IPv4Interface
    public let router: IPv4Address
    public init(destination: IPv4Interface, router: IPv4Address) {
        self.destination = destination
        self.router = router
    }

    /// Destination descriptor (prefix length, significant octets of the network) and router.
    var encoded: [UInt8] {
        let significant = (destination.prefixLength + 7) / 8
        return [UInt8(destination.prefixLength)] + destination.network.bytes.prefix(significant) + router.bytes
    }
}

/// What the guest is given.
public struct DHCPLease: Equatable, Sendable {
    /// The server identifier: an address of the interface the server answers on.
    public var serverAddress: IPv4Address
    /// The only client served; requests from other MACs are ignored.
    public var clientMAC: MACAddress
    public var clientAddress: IPv4Interface
    public var router: IPv4Address?
    public var dnsServers: [IPv4Address]
    public var searchDomains: [String]
    public var mtu: UInt16?
    public var hostname: String?
    public var leaseSeconds: UInt32
    /// Sent as option 121 when not empty (clients then ignore option 3, so the default route is
    /// included by whoever builds the list).
    public var staticRoutes: [DHCPStaticRoute]

    /// KubeVirt hands out effectively infinite leases (999 days): the guest never needs to renew
    /// against a server that disappears with the pod.
    public static let defaultLeaseSeconds: UInt32 = 999 * 24 * 3600

    public init(serverAddress: IPv4Address, clientMAC: MACAddress, clientAddress: IPv4Interface,
                router: IPv4Address?, dnsServers: [IPv4Address] = [], searchDomains: [String] = [],
                mtu: UInt16? = nil, hostname: String? = nil,
                leaseSeconds: UInt32 = DHCPLease.defaultLeaseSeconds, staticRoutes: [DHCPStaticRoute] = []) {
        self.serverAddress = serverAddress
        self.clientMAC = clientMAC
        self.clientAddress = clientAddress
        self.router = router
        self.dnsServers = dnsServers
        self.searchDomains = searchDomains
        self.mtu = mtu
        self.hostname = hostname
        self.leaseSeconds = leaseSeconds
        self.staticRoutes = staticRoutes
    }

    /// The reply to `request`, or nil when it gets none (not a BOOTREQUEST, another client, a
    /// RELEASE or DECLINE, a REQUEST meant for another server, an unknown type).
    public func reply(to request: DHCPMessage) -> DHCPMessage? {
        guard request.op == 1, let mac = request.clientMAC, mac == clientMAC,
              let type = request.options.messageType else { return nil }
        switch type {
        case .discover:
            return answer(request, .offer)
        case .request:
            // SELECTING names the chosen server; when it is another one, the client declined us.
            if let sid = request.options.address(DHCPOptionCode.serverIdentifier), sid != serverAddress { return nil }
            let wanted = request.options.address(DHCPOptionCode.requestedAddress)
                ?? (request.ciaddr != .any ? request.ciaddr : nil)
            return wanted == clientAddress.address ? answer(request, .ack) : nak(request)
        case .inform:
            return answer(request, .ack, inform: true)
        case .release, .decline, .offer, .ack, .nak:
            return nil
        }
    }

    private func base(_ request: DHCPMessage) -> DHCPMessage {
        var m = DHCPMessage(op: 2, xid: request.xid, chaddr: request.chaddr)
        m.htype = request.htype
        m.hlen = request.hlen
        m.flags = request.flags
        m.giaddr = request.giaddr
        return m
    }

    private func nak(_ request: DHCPMessage) -> DHCPMessage {
        var m = base(request)
        m.flags |= DHCPMessage.broadcastFlag   // RFC 2131 §4.3.2: a NAK is broadcast
        m.options.append(DHCPOptionCode.messageType, [DHCPMessageType.nak.rawValue])
        m.options.append(DHCPOptionCode.serverIdentifier, serverAddress.bytes)
        m.options.append(DHCPOptionCode.message, Array("requested address not available".utf8))
        return m
    }

    private func answer(_ request: DHCPMessage, _ type: DHCPMessageType, inform: Bool = false) -> DHCPMessage {
        var m = base(request)
        // An INFORM client already has its address (ciaddr) and gets no lease (§4.3.5).
        if inform { m.ciaddr = request.ciaddr } else { m.yiaddr = clientAddress.address }
        var budget = Self.optionBudget(request)
        func add(_ code: UInt8, _ data: [UInt8]) {
            let size = DHCPMessage.encodedOption(code, data).count
            guard size <= budget else { return }
            budget -= size
            m.options.append(code, data)
        }
        add(DHCPOptionCode.messageType, [type.rawValue])
        add(DHCPOptionCode.serverIdentifier, serverAddress.bytes)
        if !inform { add(DHCPOptionCode.leaseTime, Self.be32(leaseSeconds)) }
        add(DHCPOptionCode.subnetMask, clientAddress.netmask.bytes)
        if !staticRoutes.isEmpty { add(DHCPOptionCode.classlessRoutes, staticRoutes.flatMap(\.encoded)) }
        if let router { add(DHCPOptionCode.router, router.bytes) }
        if !dnsServers.isEmpty { add(DHCPOptionCode.dnsServers, dnsServers.prefix(32).flatMap(\.bytes)) }
        if let mtu { add(DHCPOptionCode.interfaceMTU, [UInt8(mtu >> 8), UInt8(mtu & 0xFF)]) }
        // Optional, in order of usefulness; each is dropped alone when it does not fit.
        if let first = searchDomains.first, DNSNameEncoding.encode(first) != nil {
            add(DHCPOptionCode.domainName, Array(first.utf8))
        }
        let search = searchDomains.compactMap(DNSNameEncoding.encode).flatMap { $0 }
        if !search.isEmpty { add(DHCPOptionCode.domainSearch, search) }
        if let hostname, Self.validHostname(hostname) { add(DHCPOptionCode.hostname, Array(hostname.utf8)) }
        return m
    }

    /// Bytes available for options (cookie and END excluded): 312 for the 576-byte datagram every
    /// client must accept (RFC 2131 §2), more when the client announced a larger maximum (option
    /// 57, which counts the IP and UDP headers), never beyond a 1500-byte datagram.
    static func optionBudget(_ request: DHCPMessage) -> Int {
        let announced = Int(request.options.uint16(DHCPOptionCode.maxMessageSize) ?? 576)
        let datagram = min(max(announced, 576), 1500)
        return datagram - 28 - DHCPMessage.headerLength - 4 - 1
    }

    static func validHostname(_ h: String) -> Bool {
        (1...63).contains(h.utf8.count) && DNSNameEncoding.encode(h) != nil
    }

    static func be32(_ v: UInt32) -> [UInt8] { IPv4Address(v).bytes }
}
