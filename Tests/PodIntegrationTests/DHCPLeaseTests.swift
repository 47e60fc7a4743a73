// The server's decisions for each request type (RFC 2131 §4.3) and the options it sends.
import Testing
@testable import PodIntegration
import VirtioDevices

@Suite struct DHCPLeaseTests {
    static let masqueradeLease = DHCPLease(
        serverAddress: IPv4Address(10, 0, 2, 1), clientMAC: guestMAC, clientAddress: IPv4Interface("10.0.2.2/24")!,
        router: IPv4Address(10, 0, 2, 1), dnsServers: [IPv4Address(10, 96, 0, 10)],
        searchDomains: ["default.svc.cluster.local", "svc.cluster.local"], mtu: 1450, hostname: "vmi-test",
        leaseSeconds: 3600)

    func reply(_ packet: [UInt8], _ lease: DHCPLease = masqueradeLease) throws -> DHCPMessage? {
        lease.reply(to: try DHCPMessage.decode(packet))
    }

    @Test func discoverGetsOfferWithAllOptions() throws {
        let r = try #require(try reply(clientPacket(.discover)))
        #expect(r.op == 2 && r.xid == 0x1234_5678 && r.clientMAC == guestMAC)
        #expect(r.yiaddr == IPv4Address(10, 0, 2, 2))
        #expect(r.options.messageType == .offer)
        #expect(r.options.address(DHCPOptionCode.serverIdentifier) == IPv4Address(10, 0, 2, 1))
        #expect(r.options.address(DHCPOptionCode.subnetMask) == IPv4Address(255, 255, 255, 0))
        #expect(r.options.address(DHCPOptionCode.router) == IPv4Address(10, 0, 2, 1))
        #expect(r.options[DHCPOptionCode.dnsServers] == [10, 96, 0, 10])
        #expect(r.options.uint16(DHCPOptionCode.interfaceMTU) == 1450)
        #expect(r.options[DHCPOptionCode.leaseTime] == [0, 0, 0x0E, 0x10])
        #expect(r.options[DHCPOptionCode.hostname] == Array("vmi-test".utf8))
        #expect(r.options[DHCPOptionCode.domainName] == Array("default.svc.cluster.local".utf8))
        #expect(r.options[DHCPOptionCode.domainSearch] ==
                DNSNameEncoding.encode("default.svc.cluster.local")! + DNSNameEncoding.encode("svc.cluster.local")!)
        // Survives its own encoding.
        #expect(try DHCPMessage.decode(r.encode()) == r)
    }

    @Test func requestForTheLeaseIsAcked() throws {
        let r = try #require(try reply(clientPacket(.request, options: [(50, [10, 0, 2, 2]), (54, [10, 0, 2, 1])])))
        #expect(r.options.messageType == .ack)
        #expect(r.yiaddr == IPv4Address(10, 0, 2, 2))
        // Renewing: no option 50, the address in ciaddr.
        let renew = try #require(try reply(clientPacket(.request, ciaddr: IPv4Address(10, 0, 2, 2))))
        #expect(renew.options.messageType == .ack)
    }

    @Test func requestForAnotherAddressIsNaked() throws {
        let r = try #require(try reply(clientPacket(.request, options: [(50, [10, 0, 2, 9])])))
        #expect(r.options.messageType == .nak)
        #expect(r.yiaddr == .any)
        #expect(r.flags & DHCPMessage.broadcastFlag != 0)
        let none = try #require(try reply(clientPacket(.request)))
        #expect(none.options.messageType == .nak)
    }

    @Test func requestForAnotherServerIsIgnored() throws {
        #expect(try reply(clientPacket(.request, options: [(50, [10, 0, 2, 2]), (54, [10, 0, 2, 7])])) == nil)
    }

    @Test func otherClientsAndTypesGetNothing() throws {
        #expect(try reply(clientPacket(.discover, mac: MACAddress("52:54:00:00:00:01")!)) == nil)
        #expect(try reply(clientPacket(.release)) == nil)
        #expect(try reply(clientPacket(.decline)) == nil)
        var notRequest = try DHCPMessage.decode(clientPacket(.discover))
        notRequest.op = 2
        #expect(Self.masqueradeLease.reply(to: notRequest) == nil)
        var noType = DHCPMessage(op: 1, xid: 1, chaddr: guestMAC.bytes)
        noType.options.append(DHCPOptionCode.hostname, [65])
        #expect(Self.masqueradeLease.reply(to: noType) == nil)
    }

    @Test func informGetsAckWithoutLease() throws {
        let r = try #require(try reply(clientPacket(.inform, ciaddr: IPv4Address(10, 0, 2, 2))))
        #expect(r.options.messageType == .ack)
        #expect(r.yiaddr == .any && r.ciaddr == IPv4Address(10, 0, 2, 2))
        #expect(r.options[DHCPOptionCode.leaseTime] == nil)
    }

    @Test func optionalOptionsDroppedToFit576() throws {
        var lease = Self.masqueradeLease
        lease.searchDomains = (0..<10).map { "domain\($0).\(String(repeating: "x", count: 40)).example" }
        let r = try #require(lease.reply(to: try DHCPMessage.decode(clientPacket(.discover))))
        #expect(r.options[DHCPOptionCode.domainSearch] == nil)
        #expect(r.options.uint16(DHCPOptionCode.interfaceMTU) == 1450)
        #expect(r.encode().count <= 576 - 28)
        // A client that accepts 1500 bytes gets more, split into 255-byte instances.
        let big = try #require(lease.reply(to: try DHCPMessage.decode(clientPacket(.discover, options: [(57, [0x05, 0xDC])]))))
        #expect(big.options[DHCPOptionCode.domainSearch] != nil)
        #expect(big.encode().count <= 1500 - 28)
    }

    @Test func classlessRoutes() throws {
        var lease = Self.masqueradeLease
        lease.staticRoutes = [
            DHCPStaticRoute(destination: IPv4Interface("169.254.1.1/32")!, router: .any),
            DHCPStaticRoute(destination: IPv4Interface("0.0.0.0/0")!, router: IPv4Address(169, 254, 1, 1)),
        ]
        let r = try #require(lease.reply(to: try DHCPMessage.decode(clientPacket(.discover))))
        #expect(r.options[DHCPOptionCode.classlessRoutes] == [32, 169, 254, 1, 1, 0, 0, 0, 0, 0, 169, 254, 1, 1])
    }
}
