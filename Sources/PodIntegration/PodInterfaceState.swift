// What the pod interface looks like before the launcher touches it: MAC, MTU, IPv4 address and
// default gateway. Read with ioctls on a socket and /proc/thread-self/net/route, both of which see
// the network namespace of the calling thread (sysfs would show the namespace it was mounted in).
import CKVM
import Glibc
import SystemPackage
import VirtioDevices

public struct PodInterfaceState: Equatable, Sendable {
    public var name: InterfaceName
    public var mac: MACAddress
    public var mtu: Int
    public var address: IPv4Interface?
    public var gateway: IPv4Address?

    /// Reads `name` in the calling thread's network namespace.
    public static func read(_ name: InterfaceName) throws(PodNetworkError) -> PodInterfaceState {
        let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { throw .system(.socket, errno: Errno(rawValue: Glibc.errno), detail: "AF_INET") }
        defer { close(sock) }
        func check(_ r: Int32) throws(PodNetworkError) -> Int32 {
            guard r >= 0 else { throw .system(.interfaceQuery, errno: Errno(rawValue: -r), detail: name.rawValue) }
            return r
        }
        let mtu = try check(ckvm_net_if_mtu(sock, name.rawValue))
        var mac = [UInt8](repeating: 0, count: 6)
        _ = try check(mac.withUnsafeMutableBufferPointer { unsafe ckvm_net_if_hwaddr(sock, name.rawValue, $0.baseAddress) })
        var address: IPv4Interface?
        var a: UInt32 = 0, m: UInt32 = 0
        let ra = ckvm_net_if_ipv4(sock, name.rawValue, 0, &a)
        if ra == 0 {
            _ = try check(ckvm_net_if_ipv4(sock, name.rawValue, 1, &m))
            guard let prefix = IPv4Interface.prefixLength(ofNetmask: IPv4Address(m)) else {
                throw .podInterface(name, "netmask \(IPv4Address(m)) is not contiguous")
            }
            address = IPv4Interface(address: IPv4Address(a), prefixLength: prefix)
        } else if ra != -EADDRNOTAVAIL {
            _ = try check(ra)
        }
        let routes = (try? readTextFile("/proc/thread-self/net/route", limit: 1 << 20)) ?? ""
        return PodInterfaceState(name: name, mac: MACAddress(bytes: mac)!, mtu: Int(mtu), address: address,
                                 gateway: defaultGateway(routeTable: routes, interface: name))
    }

    /// The gateway of the lowest-metric IPv4 default route through `interface` in the text of
    /// /proc/net/route (hex fields hold the address in network byte order as read natively).
    public static func defaultGateway(routeTable: String, interface: InterfaceName) -> IPv4Address? {
        var best: (metric: UInt32, gateway: IPv4Address)?
        for line in routeTable.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count >= 8, f[0] == interface.rawValue,
                  let dest = UInt32(f[1], radix: 16), let gw = UInt32(f[2], radix: 16),
                  let flags = UInt32(f[3], radix: 16), let metric = UInt32(f[6]),
                  let mask = UInt32(f[7], radix: 16) else { continue }
            // RTF_UP | RTF_GATEWAY, destination and mask 0.0.0.0.
            guard dest == 0, mask == 0, flags & 0x3 == 0x3, gw != 0 else { continue }
            if best == nil || metric < best!.metric {
                best = (metric, IPv4Address(UInt32(bigEndian: gw)))
            }
        }
        return best?.gateway
    }
}
