// What the launcher asks of the pod network for one VMI interface on the `pod` network, with
// KubeVirt's names and defaults.
import VirtioDevices

public struct PodNetworkConfiguration: Sendable, Equatable {
    public enum Binding: String, Sendable, Equatable {
        /// Guest behind NAT: 10.0.2.2/24 with gateway 10.0.2.1 on the bridge (KubeVirt's default).
        case masquerade
        /// Guest on the pod's link with the pod interface's own IP and MAC.
        case bridge
    }

    public var binding: Binding
    /// The pod's interface (CNI's `eth0`).
    public var podInterface: InterfaceName = "eth0"
    /// KubeVirt's names: `k6t-eth0` and `tap0` for the pod network.
    public var bridgeName: InterfaceName = "k6t-eth0"
    public var tapName: InterfaceName = "tap0"
    /// The VMI interface's `macAddress`; nil: generated (masquerade) or the pod interface's (bridge).
    public var guestMAC: MACAddress?
    /// masquerade only: forwarded ports; empty forwards every port.
    public var ports: [ForwardedPort] = []
    /// masquerade only: the VM network (`pod.vmNetworkCIDR`); the gateway is its first host, the
    /// guest its second.
    public var vmNetwork: IPv4Interface = IPv4Interface("10.0.2.0/24")!
    /// Where the pod's DNS settings are read (tests point it at their own file).
    public var resolvConfPath = "/etc/resolv.conf"
    /// DHCP option 12 (the VMI's hostname), when set and a valid DNS name.
    public var hostname: String?
    /// The nft table the masquerade rules live in.
    public var nftTable = "k6t_nat"
    /// Owner and group of the persistent tap, for a VMM that drops root before opening it.
    public var tapOwner: UInt32?
    public var tapGroup: UInt32?
    public var leaseSeconds: UInt32 = DHCPLease.defaultLeaseSeconds
    /// Serve DHCP on a dedicated thread once set up; false leaves `dhcpServer` unstarted for the
    /// caller's event loop (or unused).
    public var startDHCPThread = true

    public init(binding: Binding) { self.binding = binding }

    /// KubeVirt's static bridge MAC for masquerade: the guest's gateway keeps one MAC for life.
    public static let masqueradeBridgeMAC = MACAddress("02:00:00:00:00:00")!
    /// KubeVirt's link-local address on the bridge of a bridge binding (169.254.75.1 + index): the
    /// DHCP server's source and identifier, since the pod's own address moves to the guest.
    public static let bridgeBindingServerAddress = IPv4Interface("169.254.75.10/32")!
}
