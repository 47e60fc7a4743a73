// An Ethernet MAC address: parsed from "aa:bb:cc:dd:ee:ff", or generated locally administered.

public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Exactly 6 bytes; nil otherwise.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Six two-digit hex groups separated by ':' (or '-'); nil for anything else, and for a
    /// multicast address (low bit of the first byte), which no NIC may own.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let groups = parts.count == 6 ? parts : text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for group in groups {
            guard group.count == 2, let b = UInt8(group, radix: 16) else { return nil }
            bytes.append(b)
        }
        guard bytes[0] & 1 == 0 else { return nil }
        self.bytes = bytes
    }

    /// 52:54:00:xx:xx:xx (the locally administered prefix QEMU and Firecracker users know) with
    /// three random bytes from `generator`.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> MACAddress {
        MACAddress(uncheckedBytes: [0x52, 0x54, 0x00] + (0..<3).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public static func random() -> MACAddress {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    private init(uncheckedBytes: [UInt8]) { bytes = uncheckedBytes }

    public var description: String {
        bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: ":")
    }
}
