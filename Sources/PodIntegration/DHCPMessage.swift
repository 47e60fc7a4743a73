// DHCPv4 messages (RFC 2131 format, RFC 2132 options) as values: decode from and encode to bytes,
// with no socket involved so every rule is unit-testable. Every received packet is hostile: decode
// checks each length against the bytes actually there and never traps.
import VirtioDevices

/// DHCP message type (option 53).
public enum DHCPMessageType: UInt8, Sendable {
    case discover = 1, offer, request, decline, ack, nak, release, inform
}

/// Option codes this server reads or writes (RFC 2132 unless noted).
public enum DHCPOptionCode {
    public static let pad: UInt8 = 0
    public static let subnetMask: UInt8 = 1
    public static let router: UInt8 = 3
    public static let dnsServers: UInt8 = 6
    public static let hostname: UInt8 = 12
    public static let domainName: UInt8 = 15
    public static let interfaceMTU: UInt8 = 26
    public static let broadcastAddress: UInt8 = 28
    public static let requestedAddress: UInt8 = 50
    public static let leaseTime: UInt8 = 51
    public static let overload: UInt8 = 52
    public static let messageType: UInt8 = 53
    public static let serverIdentifier: UInt8 = 54
    public static let parameterRequestList: UInt8 = 55
    public static let message: UInt8 = 56
    public static let maxMessageSize: UInt8 = 57
    public static let renewalTime: UInt8 = 58
    public static let rebindingTime: UInt8 = 59
    public static let clientIdentifier: UInt8 = 61
    public static let domainSearch: UInt8 = 119      // RFC 3397
    public static let classlessRoutes: UInt8 = 121   // RFC 3442
    public static let end: UInt8 = 255
}

/// Why a received packet was not a DHCP message this server can read.
public enum DHCPDecodeError: Error, Equatable, Sendable {
    /// Fewer bytes than the fixed header plus the magic cookie.
    case truncated(length: Int)
    /// The four bytes after the BOOTP header are not 99.130.83.99.
    case noMagicCookie
    /// An option's length runs past the end of the packet.
    case optionOverrun(code: UInt8, offset: Int)
    /// `hlen` larger than the 16-byte chaddr field.
    case badHardwareLength(UInt8)
}

/// Options in the order they appeared; a code that appears more than once is concatenated
/// (RFC 3396), which is also how long values are split on encode.
public struct DHCPOptions: Equatable, Sendable {
    public private(set) var codes: [UInt8] = []
    private var values: [UInt8: [UInt8]] = [:]

    public init() {}

    public subscript(code: UInt8) -> [UInt8]? { values[code] }

    public mutating func append(_ code: UInt8, _ data: [UInt8]) {
        if values[code] == nil { codes.append(code); values[code] = data } else { values[code]! += data }
    }

    public var messageType: DHCPMessageType? {
        guard let v = values[DHCPOptionCode.messageType], v.count == 1 else { return nil }
        return DHCPMessageType(rawValue: v[0])
    }

    /// A 4-byte option as an address (nil when absent or of another length).
    public func address(_ code: UInt8) -> IPv4Address? {
        guard let v = values[code], v.count == 4 else { return nil }
        return IPv4Address(v[0], v[1], v[2], v[3])
    }

    public func uint16(_ code: UInt8) -> UInt16? {
        guard let v = values[code], v.count == 2 else { return nil }
        return UInt16(v[0]) << 8 | UInt16(v[1])
    }
}

/// One BOOTP/DHCP message.
public struct DHCPMessage: Equatable, Sendable {
    public static let headerLength = 236
    public static let magicCookie: [UInt8] = [99, 130, 83, 99]
    /// BOOTP's minimum message size; some clients drop shorter replies.
    public static let minimumLength = 300

    public var op: UInt8            // 1 BOOTREQUEST, 2 BOOTREPLY
    public var htype: UInt8 = 1     // Ethernet
    public var hlen: UInt8 = 6
    public var hops: UInt8 = 0
    public var xid: UInt32
    public var secs: UInt16 = 0
    public var flags: UInt16 = 0
    public var ciaddr = IPv4Address.any
    public var yiaddr = IPv4Address.any
    public var siaddr = IPv4Address.any
    public var giaddr = IPv4Address.any
    public var chaddr: [UInt8]      // always 16 bytes
    public var options = DHCPOptions()

    public static let broadcastFlag: UInt16 = 0x8000

    public init(op: UInt8, xid: UInt32, chaddr: [UInt8]) {
        self.op = op
        self.xid = xid
        self.chaddr = Array((chaddr + [UInt8](repeating: 0, count: 16)).prefix(16))
    }

    /// The client's hardware address when it is Ethernet (htype 1, hlen 6).
    public var clientMAC: MACAddress? {
        htype == 1 && hlen == 6 ? MACAddress(bytes: Array(chaddr.prefix(6))) : nil
    }

    public static func decode(_ packet: [UInt8]) throws(DHCPDecodeError) -> DHCPMessage {
        guard packet.count >= headerLength + 4 else { throw .truncated(length: packet.count) }
        func u32(_ i: Int) -> UInt32 {
            UInt32(packet[i]) << 24 | UInt32(packet[i + 1]) << 16 | UInt32(packet[i + 2]) << 8 | UInt32(packet[i + 3])
        }
        var m = DHCPMessage(op: packet[0], xid: u32(4), chaddr: Array(packet[28..<44]))
        m.htype = packet[1]
        m.hlen = packet[2]
        guard m.hlen <= 16 else { throw .badHardwareLength(m.hlen) }
        m.hops = packet[3]
        m.secs = UInt16(packet[8]) << 8 | UInt16(packet[9])
        m.flags = UInt16(packet[10]) << 8 | UInt16(packet[11])
        m.ciaddr = IPv4Address(u32(12))
        m.yiaddr = IPv4Address(u32(16))
        m.siaddr = IPv4Address(u32(20))
        m.giaddr = IPv4Address(u32(24))
        guard Array(packet[headerLength..<headerLength + 4]) == magicCookie else { throw .noMagicCookie }
        // sname/file overload (option 52) is not followed: this server needs nothing a client would
        // put there, and ignoring it keeps parsing to one bounded pass over the options field.
        var i = headerLength + 4
        while i < packet.count {
            let code = packet[i]
            if code == DHCPOptionCode.pad { i += 1; continue }
            if code == DHCPOptionCode.end { break }
            guard i + 1 < packet.count else { throw .optionOverrun(code: code, offset: i) }
            let length = Int(packet[i + 1])
            guard i + 2 + length <= packet.count else { throw .optionOverrun(code: code, offset: i) }
            m.options.append(code, Array(packet[(i + 2)..<(i + 2 + length)]))
            i += 2 + length
        }
        return m
    }

    /// The wire form. Options are written in `options.codes` order, values over 255 bytes split
    /// into consecutive instances (RFC 3396), then END, then padding up to 300 bytes.
    public func encode() -> [UInt8] {
        var b: [UInt8] = [op, htype, hlen, hops]
        func put32(_ v: UInt32) { b += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        put32(xid)
        b += [UInt8(secs >> 8), UInt8(secs & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF)]
        for a in [ciaddr, yiaddr, siaddr, giaddr] { put32(a.value) }
        b += Array((chaddr + [UInt8](repeating: 0, count: 16)).prefix(16))
        b += [UInt8](repeating: 0, count: 64 + 128)   // sname, file
        b += Self.magicCookie
        for code in options.codes {
            b += Self.encodedOption(code, options[code] ?? [])
        }
        b.append(DHCPOptionCode.end)
        if b.count < Self.minimumLength { b += [UInt8](repeating: 0, count: Self.minimumLength - b.count) }
        return b
    }

    /// One option as bytes, split into 255-byte instances when longer (an empty value is one
    /// zero-length instance).
    static func encodedOption(_ code: UInt8, _ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var rest = data[...]
        repeat {
            let chunk = rest.prefix(255)
            out += [code, UInt8(chunk.count)] + chunk
            rest = rest.dropFirst(chunk.count)
        } while !rest.isEmpty
        return out
    }
}

/// RFC 1035 wire encoding of domain names, for option 119 (RFC 3397; written without compression).
public enum DNSNameEncoding {
    /// nil for a name that is not a valid DNS name (labels of 1...63 letters, digits, '-' or '_',
    /// at most 253 characters); a trailing dot is accepted.
    public static func encode(_ name: String) -> [UInt8]? {
        var n = Substring(name)
        if n.hasSuffix(".") { n = n.dropLast() }
        guard !n.isEmpty, n.utf8.count <= 253 else { return nil }
        var out: [UInt8] = []
        for label in n.split(separator: ".", omittingEmptySubsequences: false) {
            let u = Array(label.utf8)
            guard (1...63).contains(u.count), u.allSatisfy({ c in
                (c | 0x20) >= 97 && (c | 0x20) <= 122 || (c >= 48 && c <= 57) || c == 45 || c == 95
            }) else { return nil }
            out.append(UInt8(u.count))
            out += u
        }
        return out + [0]
    }
}
