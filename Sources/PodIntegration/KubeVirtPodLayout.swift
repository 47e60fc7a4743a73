// Where things live inside a virt-launcher pod, copied from KubeVirt so pods built for KubeVirt keep
// working with this launcher. Sources (kubevirt/kubevirt):
// - container disks: pkg/container-disk/container-disk.go, GetDiskTargetPathFromLauncherView:
//   `<VirtShareDir>/container-disks/disk_<index in spec.volumes>.img`, VirtShareDir = /var/run/kubevirt
// - kernel boot: same file, GetKernelBootArtifactPathFromLauncherView: the kernel-boot container
//   copies its image into `container-disks/kernel-boot/`, so kernelPath /boot/vmlinuz-virt is read
//   at `/var/run/kubevirt/container-disks/kernel-boot/vmlinuz-virt` (base name only)
// - container-disk overlays: CreateEphemeralImages / pkg/ephemeral-disk:
//   `/var/run/kubevirt-ephemeral-disks/disk-data/<volume>/disk.qcow2`; ours is not qcow2, so the
//   file is `disk.overlay` in the same folder
// - PVC and DataVolume, filesystem mode: `/var/run/kubevirt-private/vmi-disks/<volume>/disk.img`;
//   block mode: the PVC is attached as a volumeDevice at `/dev/<volume>`
// - hostDisk: pkg/host-disk GetMountedHostDiskPath: `vmi-disks/<volume>/<base name of path>`
// - emptyDisk: pkg/emptydisk: `/var/run/libvirt/empty-disks/<volume>.qcow2`; ours is a sparse raw
//   file, `<volume>.img`, in the same folder (an emptyDir in KubeVirt's pod)
// - cloud-init ISO: pkg/virt-launcher IsoGuestVolumePath:
//   `/var/run/kubevirt-ephemeral-disks/cloud-init-data/<namespace>/<name>/noCloud.iso` (or configdrive.iso)
// - cloud-init secrets: pkg/cloud-init resolveNoCloudSecrets / ResolveConfigDriveSecrets read
//   `<SecretSourceDir>/<volume>/userdata` (or `userData`) and `networkdata` (or `networkData`),
//   SecretSourceDir = /var/run/kubevirt-private/secret
// - serial console: pkg/virt-launcher/virtwrap converter: `/var/run/kubevirt-private/<vmi uid>/virt-serial0`

extension KubeVirtPaths {
    public static let shareDir = "/var/run/kubevirt"
    public static let privateDir = "/var/run/kubevirt-private"
    public static let kernelBoot = containerDisks + "/kernel-boot"
    public static let ephemeralDiskData = "/var/run/kubevirt-ephemeral-disks/disk-data"
    public static let cloudInitData = "/var/run/kubevirt-ephemeral-disks/cloud-init-data"
    public static let emptyDisks = "/var/run/libvirt/empty-disks"
    public static let secrets = privateDir + "/secret"

    static func containerDisk(volumeIndex: Int) -> String { "\(containerDisks)/disk_\(volumeIndex).img" }
    static func kernelBootArtifact(_ pathInImage: String) -> String { "\(kernelBoot)/\(baseName(pathInImage))" }
    static func overlay(volume: String) -> String { "\(ephemeralDiskData)/\(volume)/disk.overlay" }
    static func persistentDisk(volume: String) -> String { "\(privateDisks)/\(volume)/disk.img" }
    static func blockDevice(volume: String) -> String { "/dev/\(volume)" }
    static func hostDisk(volume: String, path: String) -> String { "\(privateDisks)/\(volume)/\(baseName(path))" }
    static func emptyDisk(volume: String) -> String { "\(emptyDisks)/\(volume).img" }
    static func cloudInitISO(namespace: String, name: String, flavor: CloudInitDataSource) -> String {
        "\(cloudInitData)/\(namespace)/\(name)/" + (flavor == .noCloud ? "noCloud.iso" : "configdrive.iso")
    }
    static func secretDirectory(volume: String) -> String { "\(secrets)/\(volume)" }
    /// KubeVirt's per-VMI private folder; the VMI's UID names it (the name when there is no UID, as
    /// in standalone use).
    static func vmiPrivateDir(uidOrName: String) -> String { "\(privateDir)/\(uidOrName)" }
}

/// The last component of a slash-separated path ("" for "/" or "dir/").
func baseName(_ path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
}
