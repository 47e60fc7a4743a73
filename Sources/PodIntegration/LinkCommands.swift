// Links, addresses and routes through iproute2's `ip`, spawned without a shell (HostCommand).
// Chosen over netlink sockets: the launcher needs one more userspace tool anyway (`nft`), `ip` is
// small and its semantics are exactly what KubeVirt's docs describe, and it keeps hand-built netlink
// messages (and their unsafe pointer code) out of the control plane. Every argument is a typed value.
import CKVM
import Glibc
import VirtioDevices

public enum LinkCommands {
    static func ip(_ args: [String]) throws(PodNetworkError) {
        try HostCommand("ip", args).run()
    }

    /// Whether a link of that name exists in the calling thread's namespace.
    public static func exists(_ name: InterfaceName) -> Bool {
        ckvm_net_if_index(name.rawValue) > 0
    }

    public static func addBridge(_ name: InterfaceName, mac: MACAddress?, mtu: Int) throws(PodNetworkError) {
        var args = ["link", "add", "name", name.rawValue]
        if let mac { args += ["address", mac.description] }
        args += ["mtu", String(mtu), "type", "bridge"]
        try ip(args)
    }

    /// `ip link set dev NAME ...` with each change given.
    public static func set(_ name: InterfaceName, mtu: Int? = nil, mac: MACAddress? = nil,
                           master: InterfaceName? = nil, noMaster: Bool = false, up: Bool? = nil) throws(PodNetworkError) {
        var args = ["link", "set", "dev", name.rawValue]
        if let mtu { args += ["mtu", String(mtu)] }
        if let mac { args += ["address", mac.description] }
        if let master { args += ["master", master.rawValue] }
        if noMaster { args += ["nomaster"] }
        if let up { args.append(up ? "up" : "down") }
        try ip(args)
    }

    /// Turns MAC learning off on a bridge port (KubeVirt does so on the bridged pod interface, so
    /// the guest's MAC is never learned behind the uplink).
    public static func setPortLearning(_ port: InterfaceName, _ on: Bool) throws(PodNetworkError) {
        try ip(["link", "set", "dev", port.rawValue, "type", "bridge_slave", "learning", on ? "on" : "off"])
    }

    /// Adds or keeps an address (`replace` makes it idempotent).
    public static func replaceAddress(_ a: IPv4Interface, on name: InterfaceName) throws(PodNetworkError) {
        try ip(["-4", "address", "replace", a.description, "dev", name.rawValue])
    }

    public static func deleteAddress(_ a: IPv4Interface, from name: InterfaceName) throws(PodNetworkError) {
        try ip(["-4", "address", "del", a.description, "dev", name.rawValue])
    }

    public static func replaceDefaultRoute(via gateway: IPv4Address, dev: InterfaceName) throws(PodNetworkError) {
        try ip(["-4", "route", "replace", "default", "via", gateway.description, "dev", dev.rawValue])
    }

    /// Deletes a link; one that is already gone is not an error.
    public static func delete(_ name: InterfaceName) throws(PodNetworkError) {
        guard exists(name) else { return }
        try ip(["link", "delete", "dev", name.rawValue])
    }
}
