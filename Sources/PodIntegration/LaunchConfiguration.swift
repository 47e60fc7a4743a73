// What the launcher will run, fully resolved from a VMI: host paths inside the pod, byte counts,
// addresses. Plain values only, so `--dry-run` can print it and tests can compare it; turning it into
// Machine's MachineConfiguration (reading the kernel, opening disks, creating the tap) happens at launch.

public struct LaunchConfiguration: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var uid: String?
    /// `spec.hostname`, else the VMI name (what KubeVirt hands cloud-init as local-hostname).
    public var hostname: String
    /// `firmware.uuid`: no SMBIOS tables carry it, but cloud-init's ConfigDrive identity uses it.
    public var firmwareUUID: String?
    public var cpu: CPUTopology
    public var memoryBytes: UInt64
    public var boot: KernelBoot
    /// virtio-blk disks in `spec.domain.devices.disks` order: the first is /dev/vda.
    public var disks: [LaunchDisk]
    public var interfaces: [LaunchInterface]
    public var console: ConsoleConfiguration
    /// A virtio-rng device (`devices.rng`).
    public var rng: Bool
    /// How long SIGTERM waits for the guest to power off before stopping it (KubeVirt default 30).
    public var terminationGracePeriodSeconds: Int64
}

public struct CPUTopology: Sendable, Equatable {
    public enum Source: String, Sendable { case topology, limits, requests, `default` }
    public var sockets: Int
    public var cores: Int
    public var threads: Int
    public var vcpus: Int { sockets * cores * threads }
    /// Where the count came from: `domain.cpu`, `resources.limits.cpu`, `resources.requests.cpu`, or 1.
    public var source: Source
}

/// `firmware.kernelBoot` resolved to files in the pod.
public struct KernelBoot: Sendable, Equatable {
    /// The kernel-boot container image (pulled by the pod, not by the launcher).
    public var image: String?
    public var kernelPath: String
    public var initrdPath: String?
    public var commandLine: String
}

public struct LaunchDisk: Sendable, Equatable {
    public enum Mode: String, Sendable { case file, block }
    /// How the launcher prepares the backing before the VM starts.
    public enum Preparation: Sendable, Equatable {
        /// The file or device must already exist.
        case none
        /// Create a sparse file of this size if it does not exist (emptyDisk, hostDisk DiskOrCreate).
        case createSparse(bytes: UInt64)
        /// Write a cloud-init ISO 9660 image here before the VM starts.
        case cloudInitISO(CloudInitImage)
    }

    /// `disks[i].name`.
    public var name: String
    public var volumeName: String
    /// The volume source key (`containerDisk`, `persistentVolumeClaim`, ...).
    public var source: String
    /// The file or block device the guest's disk reads from: for a disk with an overlay, the
    /// read-only base.
    public var hostPath: String
    public var mode: Mode
    /// Always raw for now: the launcher probes the image at start and refuses qcow2 and other
    /// formats it cannot serve instead of serving them as raw.
    public var format: String
    /// Whether the guest sees the disk read-only.
    public var readOnly: Bool
    /// What the guest reads as the virtio-blk serial (at most 20 bytes); empty for none.
    public var serial: String
    /// `disks[i].bootOrder`, recorded; with kernel boot there is no firmware that reads it.
    public var bootOrder: Int64?
    /// Writes go here, copy-on-write over `hostPath`, which is never modified (containerDisk,
    /// ephemeral PVC); nil when the guest writes `hostPath` directly.
    public var overlayPath: String?
    public var preparation: Preparation
}

/// The data a cloud-init disk carries; the launcher writes the ISO (NoCloud `cidata`, ConfigDrive
/// `config-2`) with CloudInitDisk, its identity from the VMI's name, namespace, hostname and
/// firmware UUID.
public struct CloudInitImage: Sendable, Equatable {
    /// Inline (or base64-decoded) bytes, or a file in a mounted Secret, read when the ISO is written.
    public enum Payload: Sendable, Equatable {
        case bytes([UInt8])
        case secretFile(path: String)
    }
    public var dataSource: CloudInitDataSource
    public var userData: Payload?
    public var networkData: Payload?
}

public struct LaunchInterface: Sendable, Equatable {
    public enum Binding: String, Sendable { case masquerade, bridge }
    public var name: String
    public var network: String
    public var binding: Binding
    /// Always virtio (other models are refused).
    public var model: String
    public var macAddress: String
    /// Whether the MAC was derived by the launcher (stable per VMI and interface) rather than given.
    public var macGenerated: Bool
    /// The pod's interface this NIC is wired to (`eth0` for the pod network).
    public var podInterface: String
    /// KubeVirt's names inside the pod: tap `tap0`, bridge `k6t-eth0` for `eth0`.
    public var tapName: String
    public var bridgeName: String
    /// Masquerade only: the guest's address and its gateway (the bridge) on the VM network.
    public var guestAddress: String?
    public var gatewayAddress: String?
    public var prefixLength: Int?
    /// Masquerade only: forwarded ports; empty forwards every port.
    public var ports: [LaunchPort]
}

public struct LaunchPort: Sendable, Equatable {
    public var name: String?
    public var proto: String
    public var port: Int
}

/// Consoles on Unix sockets in the pod, where `virtctl console`-style clients connect.
public struct ConsoleConfiguration: Sendable, Equatable {
    /// COM1 (ttyS0): KubeVirt's `/var/run/kubevirt-private/<uid>/virt-serial0`; nil when
    /// `autoattachSerialConsole: false`.
    public var serialSocketPath: String?
    /// A virtio console (hvc0) next to it; KubeVirt has no such socket, the name is ours.
    public var virtioConsoleSocketPath: String?
    /// Serial output also goes to the container's stdout (container logs).
    public var serialToStdout: Bool
}
