// Typed network values for the pod network: every address, MAC and interface name that reaches an
// `ip` argument, an nft script or a DHCP packet is one of these, parsed and validated once, so no
// text from a VMI or from the pod can smuggle syntax into a command.
import Glibc
import VirtioDevices

/// An IPv4 address (host byte order inside).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Strict dotted quad: four decimal parts 0...255, no leading zeros (which some parsers read
    /// as octal), no signs, spaces or shorthand.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard (1...3).contains(p.utf8.count), p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  p.utf8.count == 1 || p.utf8.first != 48, let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public static let any = IPv4Address(0)
    public static let broadcast = IPv4Address(0xFFFF_FFFF)
    public static let loopback = IPv4Address(127, 0, 0, 1)

    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (l: Self, r: Self) -> Bool { l.value < r.value }

    /// The address `n` further on, nil past 255.255.255.255.
    public func advanced(by n: UInt32) -> IPv4Address? {
        let (r, o) = value.addingReportingOverflow(n)
        return o ? nil : IPv4Address(r)
    }
}

/// An IPv4 address with its prefix length, as on an interface (`10.0.2.1/24`).
public struct IPv4Interface: Hashable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int

    public init?(address: IPv4Address, prefixLength: Int) {
        guard (0...32).contains(prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `a.b.c.d/n`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parts[0]), parts[1].utf8.count <= 2,
              parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(parts[1]) else { return nil }
        self.init(address: a, prefixLength: n)
    }

    public var netmask: IPv4Address {
        IPv4Address(prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength))
    }
    public var network: IPv4Address { IPv4Address(address.value & netmask.value) }
    public func contains(_ other: IPv4Address) -> Bool { other.value & netmask.value == network.value }
    public var description: String { "\(address)/\(prefixLength)" }

    /// The prefix length of a contiguous netmask, nil for a mask like 255.0.255.0.
    public static func prefixLength(ofNetmask mask: IPv4Address) -> Int? {
        let n = (~mask.value).leadingZeroBitCount
        return IPv4Interface(address: .any, prefixLength: n)?.netmask == mask ? n : nil
    }
}

/// The pod network uses VirtioDevices' MACAddress, the type the guest's virtio-net is configured
/// with, plus what it needs to check and generate host-side addresses.
extension MACAddress {
    public var isMulticast: Bool { bytes[0] & 1 != 0 }
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    /// A random locally administered unicast address, for host-side links.
    public static func randomLocallyAdministered() -> MACAddress {
        var g = SystemRandomNumberGenerator()
        var b = (0..<6).map { _ in UInt8.random(in: 0...255, using: &g) }
        b[0] = (b[0] & 0xFC) | 0x02
        return MACAddress(bytes: b)!
    }
}

/// A network interface name Linux accepts (dev_valid_name: 1...15 bytes, not "." or "..", no '/',
/// ':' or whitespace), further limited to printable ASCII without quotes or backslashes so it can
/// appear verbatim inside a quoted nft string and an `ip` argument.
public struct InterfaceName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public enum Invalid: Error, Equatable, Sendable {
        case empty, tooLong(Int), dotName, forbiddenCharacter(UInt8)
    }

    public static func validate(_ name: String) -> Invalid? {
        let u = Array(name.utf8)
        if u.isEmpty { return .empty }
        if u.count > 15 { return .tooLong(u.count) }
        if name == "." || name == ".." { return .dotName }
        for c in u where c <= 0x20 || c >= 0x7F || c == UInt8(ascii: "/") || c == UInt8(ascii: ":")
            || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c == UInt8(ascii: "'") {
            return .forbiddenCharacter(c)
        }
        return nil
    }

    public init?(_ name: String) {
        guard Self.validate(name) == nil else { return nil }
        rawValue = name
    }

    /// For fixed names (`"eth0"`, `"k6t-eth0"`); an invalid literal traps, a programming error.
    /// Note Swift reads `InterfaceName("literal")` as this initializer too: text from input must
    /// go through `init?(_:)` as a String value.
    public init(stringLiteral value: String) {
        precondition(Self.validate(value) == nil, "invalid interface name literal \(value)")
        rawValue = value
    }

    public var description: String { rawValue }
}

/// A transport protocol of a forwarded port (KubeVirt's `ports[].protocol`, TCP when empty).
public enum PortProtocol: String, Sendable, Hashable, CaseIterable {
    case tcp, udp, sctp

    /// Case-insensitive, as KubeVirt lowercases it; nil for anything else.
    public init?(kubernetes text: String) {
        self.init(rawValue: text.lowercased())
    }
}

/// A port the masquerade binding forwards from the pod IP to the guest.
public struct ForwardedPort: Hashable, Sendable {
    public let port: UInt16
    public let proto: PortProtocol
    public init?(port: Int, proto: PortProtocol = .tcp) {
        guard (1...65535).contains(port) else { return nil }
        self.port = UInt16(port)
        self.proto = proto
    }
}
