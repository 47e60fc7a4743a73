// What virtio-net needs from the host side of the link (a Linux tap device in the VMM, a scripted
// fake in tests): whole frames in and out, each led by the 12-byte virtio_net_hdr_v1, and which
// checksum/segmentation work the backend can take over. The device offers the guest only the
// offloads the backend reports here, so what is negotiated is what actually happens.

/// Checksum and segmentation offloads, as a backend can accept them (transmit) or deliver them
/// (receive). They map one to one onto TUN_F_CSUM / TUN_F_TSO4 / TUN_F_TSO6 / TUN_F_TSO_ECN.
public struct NetOffloads: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Frames may carry a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM).
    public static let checksum = NetOffloads(rawValue: 1 << 0)
    /// TCP over IPv4 frames larger than the MTU, segmented by whoever receives them.
    public static let tso4 = NetOffloads(rawValue: 1 << 1)
    public static let tso6 = NetOffloads(rawValue: 1 << 2)
    /// TSO frames with the ECN (CWR) bit set.
    public static let tsoECN = NetOffloads(rawValue: 1 << 3)

    public static let all: NetOffloads = [.checksum, .tso4, .tso6, .tsoECN]

    public var description: String {
        let names: [(NetOffloads, String)] = [(.checksum, "csum"), (.tso4, "tso4"), (.tso6, "tso6"), (.tsoECN, "ecn")]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }
}

/// The host operations a network backend performs, named after their system calls.
public enum NetBackendOperation: String, Sendable, CustomStringConvertible {
    case open = "open(/dev/net/tun)"
    case setInterface = "ioctl(TUNSETIFF)"
    case getInterface = "ioctl(TUNGETIFF)"
    case setHeaderSize = "ioctl(TUNSETVNETHDRSZ)"
    case setOffload = "ioctl(TUNSETOFFLOAD)"
    case setNonBlocking = "fcntl(O_NONBLOCK)"
    case read = "read"
    case write = "write"

    public var description: String { rawValue }
}

public enum NetBackendError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed with `errno`.
    case system(NetBackendOperation, errno: Int32)
    /// A tap name that is empty or longer than IFNAMSIZ - 1 (15) bytes.
    case invalidInterfaceName(String)
    /// An adopted descriptor that is not a tap opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
    case notAVnetTap(flags: Int32)
    /// A frame shorter than the virtio-net header, or longer than the backend takes.
    case invalidFrameLength(Int)
    /// The backend was closed.
    case closed

    public var description: String {
        switch self {
        case let .system(op, errno): "\(op) failed: errno \(errno)"
        case let .invalidInterfaceName(name): "invalid interface name '\(name)' (1...15 bytes)"
        case let .notAVnetTap(flags):
            "descriptor is not a tap with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (flags 0x\(String(flags, radix: 16)))"
        case let .invalidFrameLength(length): "invalid frame length \(length)"
        case .closed: "backend closed"
        }
    }
}

/// The outcome of asking a backend for one frame.
public enum NetReceiveResult: Equatable, Sendable {
    /// `length` bytes (virtio-net header included) are at the start of the buffer.
    case frame(length: Int)
    /// Nothing to read now (EAGAIN): wait for the descriptor to become readable.
    case empty
    case failed(NetBackendError)
}

/// The host side of one virtio-net link. Frames in both directions start with the 12-byte
/// virtio_net_hdr_v1 (the backend ignores / need not fill `num_buffers`). Called on the event-loop
/// thread (and by the device under its lock), so implementations are thread-safe.
public protocol NetBackend: AnyObject, Sendable {
    /// What frames passed to `send` may leave unfinished for the backend (partial checksums, TSO).
    var transmitOffloads: NetOffloads { get }
    /// What the backend can deliver unfinished once `setReceiveOffloads` allows it.
    var receiveOffloads: NetOffloads { get }
    /// Reads one frame into the start of `buffer` without blocking. A frame longer than the buffer
    /// may be truncated; the device sizes the buffer for the largest frame it accepts.
    func receive(into buffer: inout [UInt8]) -> NetReceiveResult
    /// Writes one frame (header included) without blocking. A full host queue is an error
    /// (EAGAIN/ENOBUFS), never a wait.
    func send(_ frame: [UInt8]) -> Result<Void, NetBackendError>
    /// Which unfinished frames the guest driver accepted (a subset of `receiveOffloads`); the
    /// backend finishes everything else before delivering it. Empty until the driver negotiates.
    func setReceiveOffloads(_ offloads: NetOffloads) -> Result<Void, NetBackendError>
}
