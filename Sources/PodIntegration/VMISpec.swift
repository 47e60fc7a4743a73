// The subset of KubeVirt's `kubevirt.io/v1` VirtualMachineInstance API that the launcher maps
// (staging/src/kubevirt.io/api/core/v1/types.go and schema.go), as plain values. Every value keeps
// the field path it was read from so the resolver can name it in errors. Fields outside this subset
// are either refused while parsing (they would change the VM: see VMISpecParsing.swift) or tolerated.

/// `metadata` of the VMI (for a VirtualMachine: of its template, with the VM's name as fallback).
public struct VMIMetadata: Sendable, Equatable {
    public var name: String?
    public var namespace: String?
    public var uid: String?
}

public struct VMISpec: Sendable {
    /// `spec` for a VMI, `spec.template.spec` for a VirtualMachine.
    public var path: FieldPath
    public var domain: DomainSpec
    public var volumes: [VolumeSpec] = []
    public var networks: [NetworkSpec] = []
    public var terminationGracePeriodSeconds: Int64?
    public var hostname: String?
}

public struct DomainSpec: Sendable {
    public var path: FieldPath
    public var cpu: CPUSpec?
    /// `memory.guest`.
    public var guestMemory: LocatedQuantity?
    public var requests = ResourceList()
    public var limits = ResourceList()
    public var firmware: FirmwareSpec
    public var devices: DevicesSpec
}

/// `resources.requests` / `resources.limits`: only cpu and memory matter to the VM.
public struct ResourceList: Sendable {
    public var cpu: LocatedQuantity?
    public var memory: LocatedQuantity?
}

/// `domain.cpu`: the guest topology. Unset counts default to 1 when any is set (KubeVirt's rule).
public struct CPUSpec: Sendable {
    public var path: FieldPath
    public var cores: Int64?
    public var sockets: Int64?
    public var threads: Int64?
}

public struct FirmwareSpec: Sendable {
    public var path: FieldPath
    public var kernelBoot: KernelBootSpec?
    /// `bootloader.efi` is set.
    public var efi = false
    /// `bootloader.efi.secureBoot` (KubeVirt defaults it to true when `efi` is set).
    public var secureBoot: Bool?
    /// `bootloader.bios` is set.
    public var bios = false
    public var uuid: String?
}

/// `firmware.kernelBoot`: boot a kernel (and initrd) shipped in a container image.
public struct KernelBootSpec: Sendable {
    public var path: FieldPath
    public var kernelArgs: String?
    /// `container` is set (KubeVirt requires it for kernel boot).
    public var hasContainer = false
    public var image: String?
    public var kernelPath: String?
    public var initrdPath: String?
}

public struct DevicesSpec: Sendable {
    public var path: FieldPath
    public var disks: [DiskSpec] = []
    public var interfaces: [InterfaceSpec] = []
    /// `rng: {}`.
    public var rng = false
    /// Default true: a serial console on a Unix socket.
    public var autoattachSerialConsole: Bool?
    /// Default true: with no interfaces and no networks, KubeVirt adds the pod network.
    public var autoattachPodInterface: Bool?
    public var logSerialConsole: Bool?
}

public struct DiskSpec: Sendable {
    public enum Device: String, Sendable { case disk, cdrom, lun }
    public var path: FieldPath
    public var name: String?
    /// Which of disk/cdrom/lun is set; nil when none is (KubeVirt defaults to `disk`).
    public var device: Device?
    public var bus: String?
    public var readOnly = false
    public var serial: String?
    public var bootOrder: Int64?
}

public struct InterfaceSpec: Sendable {
    /// The binding keys KubeVirt defines (InterfaceBindingMethod) plus the plugin form.
    public static let bindingKeys = ["bridge", "masquerade", "slirp", "sriov", "macvtap", "passt", "binding"]
    public var path: FieldPath
    public var name: String?
    /// Binding keys that are set, in document order (more than one is an error).
    public var bindings: [String] = []
    public var model: String?
    public var macAddress: String?
    public var ports: [PortSpec] = []
}

/// A masquerade port: only these are forwarded to the guest when any are listed.
public struct PortSpec: Sendable {
    public var path: FieldPath
    public var name: String?
    public var proto: String?
    public var port: Int64?
}

public struct NetworkSpec: Sendable {
    public var path: FieldPath
    public var name: String?
    /// `pod: {}` with its optional CIDRs.
    public var pod: PodNetworkSpec?
    /// `multus` is set (refused: the launcher wires only the pod network).
    public var multus = false
}

public struct PodNetworkSpec: Sendable {
    public var vmNetworkCIDR: String?
    public var vmIPv6NetworkCIDR: String?
}

public struct VolumeSpec: Sendable {
    public var path: FieldPath
    public var name: String?
    /// Position in `spec.volumes`: KubeVirt names container disks after it (`disk_<index>.img`).
    public var index: Int
    /// The volume sources that are set (exactly one is valid).
    public var sources: [VolumeSource] = []
}

public enum VolumeSource: Sendable {
    case persistentVolumeClaim(claimName: String?, readOnly: Bool)
    case dataVolume(name: String?)
    case containerDisk(image: String?)
    /// A PVC used read-only with a throw-away overlay (`ephemeral.persistentVolumeClaim`).
    case ephemeral(claimName: String?)
    case emptyDisk(capacity: LocatedQuantity?)
    case hostDisk(path: String?, type: String?, capacity: LocatedQuantity?)
    case cloudInitNoCloud(CloudInitSpec)
    case cloudInitConfigDrive(CloudInitSpec)

    /// The field name in the API (for messages).
    public var key: String {
        switch self {
        case .persistentVolumeClaim: "persistentVolumeClaim"
        case .dataVolume: "dataVolume"
        case .containerDisk: "containerDisk"
        case .ephemeral: "ephemeral"
        case .emptyDisk: "emptyDisk"
        case .hostDisk: "hostDisk"
        case .cloudInitNoCloud: "cloudInitNoCloud"
        case .cloudInitConfigDrive: "cloudInitConfigDrive"
        }
    }
}

/// `cloudInitNoCloud` / `cloudInitConfigDrive`: user and network data inline, base64 or from a
/// Secret (`secretRef` is the API's JSON name for the user-data secret).
public struct CloudInitSpec: Sendable {
    public var path: FieldPath
    public var userData: String?
    public var userDataBase64: String?
    public var userDataSecretRef: String?
    public var networkData: String?
    public var networkDataBase64: String?
    public var networkDataSecretRef: String?
}
