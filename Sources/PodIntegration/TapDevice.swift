// The tap device the guest's virtio-net sits on. The pod network creates it persistent (it outlives
// the creating fd, so it can be bridged before the VMM exists); the VMM then attaches by name with
// `TapDevice.open`, or the launcher opens it and hands the fd over. Single queue (IFF_MULTI_QUEUE
// off), no packet-info header, virtio-net header on (IFF_VNET_HDR): what a virtio-net backend wants.
import CKVM
import Glibc
import SystemPackage

public enum TapDevice {
    /// The flags every attach uses; they must match between creation and later opens.
    public static let flags: Int16 = CKVM_IFF_TAP | CKVM_IFF_NO_PI | CKVM_IFF_VNET_HDR

    /// Creates (or re-attaches to) a persistent tap `name` in the calling thread's namespace.
    /// `owner`/`group` allow a non-root VMM to attach later.
    public static func createPersistent(_ name: InterfaceName, owner: UInt32? = nil, group: UInt32? = nil) throws(PodNetworkError) {
        let fd = try open(name, nonBlocking: false)
        defer { try? fd.close() }
        if let owner {
            let r = ckvm_net_tun_set_owner(fd.rawValue, owner)
            guard r == 0 else { throw .system(.tunSetOwner, errno: Errno(rawValue: -r), detail: name.rawValue) }
        }
        if let group {
            let r = ckvm_net_tun_set_group(fd.rawValue, group)
            guard r == 0 else { throw .system(.tunSetOwner, errno: Errno(rawValue: -r), detail: name.rawValue) }
        }
        let r = ckvm_net_tun_set_persist(fd.rawValue, 1)
        guard r == 0 else { throw .system(.tunSetPersist, errno: Errno(rawValue: -r), detail: name.rawValue) }
    }

    /// Opens /dev/net/tun and attaches to tap `name` (creating a non-persistent one if none
    /// exists). The caller owns the returned descriptor; the virtio-net backend sets the header
    /// size and offloads it negotiates (TUNSETVNETHDRSZ, TUNSETOFFLOAD).
    public static func open(_ name: InterfaceName, nonBlocking: Bool = true) throws(PodNetworkError) -> FileDescriptor {
        let fd = ckvm_net_open_tun(nonBlocking ? 1 : 0)
        guard fd >= 0 else { throw .system(.openTun, errno: Errno(rawValue: -fd), detail: "/dev/net/tun") }
        let r = ckvm_net_tun_set_iff(fd, name.rawValue, flags)
        guard r == 0 else {
            close(fd)
            throw .system(.tunSetIff, errno: Errno(rawValue: -r), detail: name.rawValue)
        }
        return FileDescriptor(rawValue: fd)
    }
}
