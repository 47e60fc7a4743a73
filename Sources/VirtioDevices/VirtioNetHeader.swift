// The virtio-net wire format (virtio 1.2, 5.1): feature bits, the 12-byte virtio_net_hdr_v1 that
// leads every frame in both directions, and which header contents a negotiated feature set allows.
// Header checks run on copies: the guest's TX header and the backend's RX header are both untrusted.

/// Device feature bits of virtio-net (5.1.3).
public enum VirtioNetFeature {
    public static let csum: UInt64 = 1 << 0          // device takes partial checksums (TX)
    public static let guestCsum: UInt64 = 1 << 1     // driver takes partial checksums (RX)
    public static let mtu: UInt64 = 1 << 3
    public static let mac: UInt64 = 1 << 5
    public static let guestTSO4: UInt64 = 1 << 7
    public static let guestTSO6: UInt64 = 1 << 8
    public static let guestECN: UInt64 = 1 << 9
    public static let guestUFO: UInt64 = 1 << 10
    public static let hostTSO4: UInt64 = 1 << 11
    public static let hostTSO6: UInt64 = 1 << 12
    public static let hostECN: UInt64 = 1 << 13
    public static let hostUFO: UInt64 = 1 << 14
    public static let mergeableRxBuffers: UInt64 = 1 << 15
    public static let status: UInt64 = 1 << 16

    /// What a device over a backend with these offloads offers: MAC, STATUS and MRG_RXBUF always,
    /// MTU when configured, and an offload only where the backend does the work and the spec's
    /// dependencies hold (5.1.3.1: TSO needs CSUM, ECN needs TSO).
    public static func offered(transmit: NetOffloads, receive: NetOffloads, mtu: Bool) -> UInt64 {
        var features = mac | status | mergeableRxBuffers | (mtu ? Self.mtu : 0)
        if transmit.contains(.checksum) {
            features |= csum
            if transmit.contains(.tso4) { features |= hostTSO4 }
            if transmit.contains(.tso6) { features |= hostTSO6 }
            if transmit.contains(.tsoECN), features & (hostTSO4 | hostTSO6) != 0 { features |= hostECN }
        }
        if receive.contains(.checksum) {
            features |= guestCsum
            if receive.contains(.tso4) { features |= guestTSO4 }
            if receive.contains(.tso6) { features |= guestTSO6 }
            if receive.contains(.tsoECN), features & (guestTSO4 | guestTSO6) != 0 { features |= guestECN }
        }
        return features
    }

    /// The unfinished frames the backend may deliver to a driver that accepted `features`. A driver
    /// that (against 5.1.3.1) took TSO without GUEST_CSUM gets neither: the tap refuses TSO alone.
    public static func receiveOffloads(negotiated features: UInt64) -> NetOffloads {
        guard features & guestCsum != 0 else { return [] }
        var offloads: NetOffloads = [.checksum]
        if features & guestTSO4 != 0 { offloads.insert(.tso4) }
        if features & guestTSO6 != 0 { offloads.insert(.tso6) }
        if features & guestECN != 0, !offloads.isDisjoint(with: [.tso4, .tso6]) { offloads.insert(.tsoECN) }
        return offloads
    }
}

/// virtio_net_hdr_v1 (5.1.6), little-endian, 12 bytes with VERSION_1 (num_buffers always present).
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 12
    public static let needsChecksum: UInt8 = 1     // VIRTIO_NET_HDR_F_NEEDS_CSUM
    public static let dataValid: UInt8 = 2         // VIRTIO_NET_HDR_F_DATA_VALID
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoUDP: UInt8 = 3
    public static let gsoTCPv6: UInt8 = 4
    public static let gsoECN: UInt8 = 0x80
    /// Offset of num_buffers inside the header.
    public static let numBuffersOffset = 10

    public var flags: UInt8 = 0
    public var gsoType: UInt8 = gsoNone
    public var headerLength: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var checksumStart: UInt16 = 0
    public var checksumOffset: UInt16 = 0
    public var numBuffers: UInt16 = 0

    public init(flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
                checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0, numBuffers: UInt16 = 0) {
        self.flags = flags; self.gsoType = gsoType; self.headerLength = headerLength; self.gsoSize = gsoSize
        self.checksumStart = checksumStart; self.checksumOffset = checksumOffset; self.numBuffers = numBuffers
    }

    /// Parses the first 12 bytes; nil when there are fewer.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        func le16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        self.init(flags: bytes[0], gsoType: bytes[1], headerLength: le16(2), gsoSize: le16(4),
                  checksumStart: le16(6), checksumOffset: le16(8), numBuffers: le16(10))
    }

    public var bytes: [UInt8] {
        var out = [flags, gsoType]
        for v in [headerLength, gsoSize, checksumStart, checksumOffset, numBuffers] {
            out += [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)]
        }
        return out
    }

    /// Whether a frame with this header may go to the backend from a driver that negotiated
    /// `features` (5.1.6.2.1: NEEDS_CSUM only with CSUM, each GSO type only with its HOST_ bit).
    public func isAllowedForTransmit(features: UInt64) -> Bool {
        if flags & Self.needsChecksum != 0, features & VirtioNetFeature.csum == 0 { return false }
        if flags & ~(Self.needsChecksum | Self.dataValid) != 0 { return false }
        return Self.gsoAllowed(gsoType, tso4: VirtioNetFeature.hostTSO4, tso6: VirtioNetFeature.hostTSO6,
                               ecn: VirtioNetFeature.hostECN, features: features)
    }

    /// Whether a frame the backend delivered may go to a driver that negotiated `features`
    /// (5.1.6.4.1: NEEDS_CSUM only with GUEST_CSUM, GSO types only with their GUEST_ bit).
    public func isAllowedForReceive(features: UInt64) -> Bool {
        if flags & Self.needsChecksum != 0, features & VirtioNetFeature.guestCsum == 0 { return false }
        return Self.gsoAllowed(gsoType, tso4: VirtioNetFeature.guestTSO4, tso6: VirtioNetFeature.guestTSO6,
                               ecn: VirtioNetFeature.guestECN, features: features)
    }

    private static func gsoAllowed(_ type: UInt8, tso4: UInt64, tso6: UInt64, ecn: UInt64, features: UInt64) -> Bool {
        if type & gsoECN != 0, features & ecn == 0 { return false }
        switch type & ~gsoECN {
        case gsoNone: return type & gsoECN == 0
        case gsoTCPv4: return features & tso4 != 0
        case gsoTCPv6: return features & tso6 != 0
        default: return false   // UDP fragmentation / USO are never offered
        }
    }
}
