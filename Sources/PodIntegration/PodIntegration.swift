// The KubeVirt pod launcher (VMI spec, pod network and volumes) lands with the pod issue.
import Machine

/// Where KubeVirt mounts things inside a virt-launcher pod; kept so pods built for KubeVirt work.
public enum KubeVirtPaths {
    public static let privateDisks = "/var/run/kubevirt-private/vmi-disks"
    public static let containerDisks = "/var/run/kubevirt/container-disks"
}
