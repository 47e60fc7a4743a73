// virtio-net's host side: a Linux tap device carrying the 12-byte virtio_net_hdr_v1 in front of
// every frame (IFF_VNET_HDR + TUNSETVNETHDRSZ), so checksum and segmentation offloads pass between
// guest and host kernel untouched. Opened by name (/dev/net/tun + TUNSETIFF, in the VMM's network
// namespace) or adopted from a descriptor another process opened (a pod launcher). Non-blocking:
// the event loop waits for readability, and a full host queue is an error for the device to count.
import CKVM
import Glibc
import VirtioDevices

public final class TapBackend: NetBackend, Sendable {
    /// The interface flags a usable descriptor must carry.
    static let requiredFlags = Int32(CKVM_IFF_TAP) | Int32(CKVM_IFF_NO_PI) | Int32(CKVM_IFF_VNET_HDR)

    /// The interface name (as TUNGETIFF reports it for an adopted descriptor).
    public let name: String
    /// The tap descriptor, for the event loop. Owned: closed when the backend goes away.
    public let fileDescriptor: Int32
    /// A tap with a vnet header takes partial checksums and TSO frames from user space.
    public let transmitOffloads: NetOffloads = .all
    /// What TUNSETOFFLOAD accepted when probed at open.
    public let receiveOffloads: NetOffloads

    /// Creates (or attaches to) tap `name` in the calling thread's network namespace.
    public convenience init(name: String) throws(NetBackendError) {
        guard !name.isEmpty, name.utf8.count <= 15, !name.contains("/") else { throw .invalidInterfaceName(name) }
        let fd = ckvm_net_open_tun(1)
        guard fd >= 0 else { throw .system(.open, errno: -fd) }
        let r = ckvm_net_tun_set_iff(fd, name, CKVM_IFF_TAP | CKVM_IFF_NO_PI | CKVM_IFF_VNET_HDR)
        guard r == 0 else {
            close(fd)
            throw .system(.setInterface, errno: -r)
        }
        try self.init(adopting: fd)
    }

    /// Takes ownership of an open tap descriptor (closed on failure too). It must have been
    /// attached with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: those flags cannot be changed afterwards.
    public init(adopting fd: Int32) throws(NetBackendError) {
        var nameBytes = [CChar](repeating: 0, count: 16)
        var flags: Int32 = 0
        let got = ckvm_tap_get_iff(fd, &nameBytes, &flags)
        func fail(_ error: NetBackendError) -> NetBackendError { close(fd); return error }
        guard got == 0 else { throw fail(.system(.getInterface, errno: -got)) }
        guard flags & Self.requiredFlags == Self.requiredFlags else { throw fail(.notAVnetTap(flags: flags)) }
        let fileFlags = fcntl(fd, F_GETFL)
        guard fileFlags >= 0, fcntl(fd, F_SETFL, fileFlags | O_NONBLOCK) == 0 else {
            throw fail(.system(.setNonBlocking, errno: errno))
        }
        let sized = ckvm_tap_set_vnet_hdr_size(fd, Int32(VirtioNetHeader.size))
        guard sized == 0 else { throw fail(.system(.setHeaderSize, errno: -sized)) }
        // Probe the receive offloads from the most to the least, then turn them all off until a
        // driver accepts some: a guest without GUEST_CSUM must get finished frames only.
        let candidates: [NetOffloads] = [.all, [.checksum, .tso4, .tso6], [.checksum], []]
        receiveOffloads = candidates.first { Self.setOffload(fd, $0) == 0 } ?? []
        let off = Self.setOffload(fd, [])
        guard off == 0 else { throw fail(.system(.setOffload, errno: -off)) }
        name = String(decoding: nameBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        fileDescriptor = fd
    }

    deinit { close(fileDescriptor) }

    static func setOffload(_ fd: Int32, _ offloads: NetOffloads) -> Int32 {
        var bits: UInt32 = 0
        if offloads.contains(.checksum) { bits |= CKVM_TUN_F_CSUM }
        if offloads.contains(.tso4) { bits |= CKVM_TUN_F_TSO4 }
        if offloads.contains(.tso6) { bits |= CKVM_TUN_F_TSO6 }
        if offloads.contains(.tsoECN) { bits |= CKVM_TUN_F_TSO_ECN }
        return ckvm_tap_set_offload(fd, bits)
    }

    public func receive(into buffer: inout [UInt8]) -> NetReceiveResult {
        while true {
            // Sound: read writes at most buffer.count bytes into the array's own storage.
            let n = buffer.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if n >= 0 { return .frame(length: n) }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return .empty }
            return .failed(.system(.read, errno: error))
        }
    }

    public func send(_ frame: [UInt8]) -> Result<Void, NetBackendError> {
        guard frame.count >= VirtioNetHeader.size else { return .failure(.invalidFrameLength(frame.count)) }
        while true {
            // Sound: write reads frame.count bytes from the array's own storage.
            let n = frame.withUnsafeBytes { write(fileDescriptor, $0.baseAddress, $0.count) }
            if n == frame.count { return .success(()) }
            if n >= 0 { return .failure(.invalidFrameLength(n)) }   // a tap takes a frame whole or not at all
            let error = errno
            if error == EINTR { continue }
            return .failure(.system(.write, errno: error))
        }
    }

    public func setReceiveOffloads(_ offloads: NetOffloads) -> Result<Void, NetBackendError> {
        let r = Self.setOffload(fileDescriptor, offloads.intersection(receiveOffloads))
        return r == 0 ? .success(()) : .failure(.system(.setOffload, errno: -r))
    }
}
