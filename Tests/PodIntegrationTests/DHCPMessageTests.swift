// DHCP packets as bytes: round trips, the layout udhcpc and dhclient send, and every malformed
// shape a hostile guest could send (each must be an error, never a trap).
import Testing
@testable import PodIntegration
import VirtioDevices

let guestMAC = MACAddress("52:54:00:12:34:56")!

/// A DISCOVER/REQUEST as a client builds it, with options as raw (code, value) pairs.
func clientPacket(_ type: DHCPMessageType, mac: MACAddress = guestMAC, xid: UInt32 = 0x1234_5678,
                  ciaddr: IPv4Address = .any, options: [(UInt8, [UInt8])] = []) -> [UInt8] {
    var m = DHCPMessage(op: 1, xid: xid, chaddr: mac.bytes)
    m.ciaddr = ciaddr
    m.options.append(DHCPOptionCode.messageType, [type.rawValue])
    for (c, v) in options { m.options.append(c, v) }
    return m.encode()
}

@Suite struct DHCPMessageTests {
    @Test func roundTrip() throws {
        var m = DHCPMessage(op: 2, xid: 0xDEAD_BEEF, chaddr: guestMAC.bytes)
        m.flags = DHCPMessage.broadcastFlag
        m.yiaddr = IPv4Address(10, 0, 2, 2)
        m.options.append(DHCPOptionCode.messageType, [DHCPMessageType.offer.rawValue])
        m.options.append(DHCPOptionCode.router, [10, 0, 2, 1])
        let bytes = m.encode()
        #expect(bytes.count == DHCPMessage.minimumLength)
        #expect(Array(bytes[236..<240]) == [99, 130, 83, 99])
        #expect(Array(bytes[4..<8]) == [0xDE, 0xAD, 0xBE, 0xEF])
        #expect(Array(bytes[16..<20]) == [10, 0, 2, 2])
        #expect(Array(bytes[240..<246]) == [53, 1, 2, 3, 4, 10])
        let back = try DHCPMessage.decode(bytes)
        #expect(back == m)
        #expect(back.clientMAC == guestMAC)
        #expect(back.options.messageType == .offer)
    }

    @Test func longOptionSplitsAndConcatenates() throws {
        var m = DHCPMessage(op: 2, xid: 1, chaddr: guestMAC.bytes)
        let long = [UInt8](repeating: 7, count: 300)
        m.options.append(DHCPOptionCode.domainSearch, long)
        let bytes = m.encode()
        #expect(Array(bytes[240..<242]) == [119, 255])
        #expect(Array(bytes[497..<499]) == [119, 45])
        #expect(try DHCPMessage.decode(bytes).options[DHCPOptionCode.domainSearch] == long)
    }

    @Test func padAndMissingEndAreAccepted() throws {
        var bytes = Array(clientPacket(.discover).prefix(240))
        bytes += [0, 0, 53, 1, 1]   // pads, then the type, and no END
        #expect(try DHCPMessage.decode(bytes).options.messageType == .discover)
    }

    @Test func truncatedPackets() {
        let full = clientPacket(.discover)
        for n in [0, 1, 100, 235, 236, 239] {
            #expect(throws: DHCPDecodeError.truncated(length: n)) { try DHCPMessage.decode(Array(full.prefix(n))) }
        }
    }

    @Test func noMagicCookie() {
        var bytes = clientPacket(.discover)
        bytes[238] = 0
        #expect(throws: DHCPDecodeError.noMagicCookie) { try DHCPMessage.decode(bytes) }
    }

    @Test func optionLengthPastTheEnd() {
        var bytes = Array(clientPacket(.discover).prefix(240))
        bytes += [53, 1, 1, 12, 200, 65, 66]
        #expect(throws: DHCPDecodeError.optionOverrun(code: 12, offset: 243)) { try DHCPMessage.decode(bytes) }
        // A code as the very last byte, with no room for its length.
        let cut = Array(clientPacket(.discover).prefix(240)) + [12]
        #expect(throws: DHCPDecodeError.optionOverrun(code: 12, offset: 240)) { try DHCPMessage.decode(cut) }
    }

    @Test func oversizedHardwareLength() {
        var bytes = clientPacket(.discover)
        bytes[2] = 17
        #expect(throws: DHCPDecodeError.badHardwareLength(17)) { try DHCPMessage.decode(bytes) }
    }

    /// Every prefix and many random mutations of a valid packet decode or throw; none trap.
    @Test func mutationsNeverTrap() {
        let base = clientPacket(.request, options: [(50, [10, 0, 2, 2]), (55, [1, 3, 6, 15, 26, 119])])
        for n in 0...base.count { _ = try? DHCPMessage.decode(Array(base.prefix(n))) }
        var rng = SystemRandomNumberGenerator()
        let lease = DHCPLeaseTests.masqueradeLease
        for _ in 0..<5000 {
            var b = base
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let m = try? DHCPMessage.decode(b) { _ = lease.reply(to: m)?.encode() }
        }
    }

    @Test func dnsNameEncoding() {
        #expect(DNSNameEncoding.encode("svc.cluster.local") == [3] + Array("svc".utf8) + [7] + Array("cluster".utf8) + [5] + Array("local".utf8) + [0])
        #expect(DNSNameEncoding.encode("example.com.") == [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0])
        #expect(DNSNameEncoding.encode("") == nil)
        #expect(DNSNameEncoding.encode("a..b") == nil)
        #expect(DNSNameEncoding.encode("bad name") == nil)
        #expect(DNSNameEncoding.encode(String(repeating: "a", count: 64)) == nil)
    }
}
