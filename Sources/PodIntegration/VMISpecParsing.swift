// Reads VMISpec values from a Yams node tree. Fields the launcher cannot honour and that would change
// the VM are refused here, each at its own path with the reason; fields that only matter to the
// scheduler or to KubeVirt's controllers are tolerated, as Kubernetes tolerates unknown fields.
import Yams

/// A field the launcher refuses (error) or ignores with a note, and why.
struct FieldRule {
    let key: String
    let reason: String
}

extension ObjectReader {
    /// Refuses every set key in `rules`: for a list, each element at its own index.
    func refuse(_ rules: [FieldRule], _ issues: inout VMIIssues) {
        for rule in rules where has(rule.key) {
            if case let .sequence(seq)? = node(rule.key), !seq.isEmpty {
                for i in seq.indices { issues.error(path.key(rule.key).index(i), rule.reason) }
            } else {
                issues.error(path.key(rule.key), rule.reason)
            }
        }
    }

    /// Notes every set key in `rules` as ignored.
    func ignore(_ rules: [FieldRule], _ issues: inout VMIIssues) {
        for rule in rules where has(rule.key) { issues.note(path.key(rule.key), "ignored: " + rule.reason) }
    }
}

extension VMISpec {
    static let refused = [
        FieldRule(key: "accessCredentials", reason: "credential propagation (guest agent or cloud-init injection) is not supported yet; put keys in the cloud-init user data"),
        FieldRule(key: "resourceClaims", reason: "dynamic resource allocation devices are not supported"),
    ]
    static let ignored = [
        FieldRule(key: "livenessProbe", reason: "probes are run by KubeVirt's node agent, which this launcher replaces"),
        FieldRule(key: "readinessProbe", reason: "probes are run by KubeVirt's node agent, which this launcher replaces"),
    ]

    init(_ spec: ObjectReader, _ issues: inout VMIIssues) {
        path = spec.path
        spec.refuse(VMISpec.refused, &issues)
        spec.ignore(VMISpec.ignored, &issues)
        if let strategy = spec.string("startStrategy", &issues), strategy == "Paused" {
            issues.error(spec.path.key("startStrategy"), "starting paused is not supported: the launcher has no API to unpause")
        }
        if let arch = spec.string("architecture", &issues), !["amd64", "x86_64"].contains(arch) {
            issues.error(spec.path.key("architecture"), "'\(arch.clipped)' guests are not supported: the launcher runs x86_64 (amd64) guests only")
        }
        if !spec.has("domain") { issues.error(spec.path.key("domain"), "required: the VM's devices, CPU and memory") }
        domain = DomainSpec(spec.object("domain", &issues), &issues)
        volumes = spec.list("volumes", &issues).enumerated().map { i, item in
            VolumeSpec(ObjectReader(item.node, at: item.path, &issues), index: i, &issues)
        }
        networks = spec.list("networks", &issues).map { item in
            NetworkSpec(ObjectReader(item.node, at: item.path, &issues), &issues)
        }
        terminationGracePeriodSeconds = spec.integer("terminationGracePeriodSeconds", in: 0...Int64(Int32.max), &issues)
        hostname = spec.string("hostname", &issues)
    }
}

extension DomainSpec {
    static let refused = [
        FieldRule(key: "launchSecurity", reason: "confidential computing (SEV, TDX) is not supported"),
    ]
    static let ignored = [
        FieldRule(key: "machine", reason: "the launcher always builds its own microVM machine"),
        FieldRule(key: "clock", reason: "the guest keeps time with kvm-clock from the host"),
        FieldRule(key: "chassis", reason: "no SMBIOS tables are built"),
        FieldRule(key: "ioThreadsPolicy", reason: "all device I/O runs on the launcher's one event-loop thread"),
        FieldRule(key: "ioThreads", reason: "all device I/O runs on the launcher's one event-loop thread"),
    ]

    init(_ domain: ObjectReader, _ issues: inout VMIIssues) {
        path = domain.path
        domain.refuse(DomainSpec.refused, &issues)
        domain.ignore(DomainSpec.ignored, &issues)
        let features = domain.object("features", &issues)
        features.ignore([FieldRule(key: "hyperv", reason: "Hyper-V enlightenments are for Windows guests, which need firmware"),
                         FieldRule(key: "smm", reason: "there is no firmware to use system management mode")], &issues)
        cpu = domain.has("cpu") ? CPUSpec(domain.object("cpu", &issues), &issues) : nil
        let memory = domain.object("memory", &issues)
        guestMemory = memory.quantity("guest", &issues)
        memory.ignore([FieldRule(key: "hugepages", reason: "guest RAM is not backed by huge pages yet"),
                       FieldRule(key: "maxGuest", reason: "memory hotplug is not supported; the guest gets memory.guest")], &issues)
        let resources = domain.object("resources", &issues)
        requests = ResourceList(resources.object("requests", &issues), &issues)
        limits = ResourceList(resources.object("limits", &issues), &issues)
        firmware = FirmwareSpec(domain.object("firmware", &issues), &issues)
        devices = DevicesSpec(domain.object("devices", &issues), &issues)
    }
}

extension ResourceList {
    init(_ list: ObjectReader, _ issues: inout VMIIssues) {
        cpu = list.quantity("cpu", &issues)
        memory = list.quantity("memory", &issues)
    }
}

extension CPUSpec {
    init(_ cpu: ObjectReader, _ issues: inout VMIIssues) {
        path = cpu.path
        // 255 vCPUs is the machine's limit (one xAPIC ID each); each count alone must fit it too.
        cores = cpu.integer("cores", in: 1...255, &issues)
        sockets = cpu.integer("sockets", in: 1...255, &issues)
        threads = cpu.integer("threads", in: 1...255, &issues)
        cpu.refuse([FieldRule(key: "numa", reason: "guest NUMA topology is not supported"),
                    FieldRule(key: "realtime", reason: "realtime vCPU scheduling is not supported")], &issues)
        cpu.ignore([FieldRule(key: "dedicatedCpuPlacement", reason: "pinning is left to the kubelet's CPU manager; vCPU threads are not pinned"),
                    FieldRule(key: "isolateEmulatorThread", reason: "the launcher's threads are not pinned"),
                    FieldRule(key: "features", reason: "the guest sees the host's CPUID (or the launcher's CPU template)"),
                    FieldRule(key: "maxSockets", reason: "CPU hotplug is not supported")], &issues)
        if let model = cpu.string("model", &issues), !["host-passthrough", "host-model"].contains(model) {
            issues.note(cpu.path.key("model"), "ignored: named CPU models are not emulated; the guest sees the host's CPUID")
        }
    }
}

extension FirmwareSpec {
    init(_ firmware: ObjectReader, _ issues: inout VMIIssues) {
        path = firmware.path
        firmware.refuse([FieldRule(key: "acpi", reason: "custom ACPI tables (SLIC, MSDM) are not supported")], &issues)
        firmware.ignore([FieldRule(key: "serial", reason: "no SMBIOS tables are built")], &issues)
        uuid = firmware.string("uuid", &issues)
        let bootloader = firmware.object("bootloader", &issues)
        bios = bootloader.has("bios")
        efi = bootloader.has("efi")
        if efi {
            let efiObject = bootloader.object("efi", &issues)
            // KubeVirt's default: EFI boots with secure boot unless it is turned off.
            secureBoot = efiObject.bool("secureBoot", &issues) ?? true
        }
        if firmware.has("kernelBoot") {
            kernelBoot = KernelBootSpec(firmware.object("kernelBoot", &issues), &issues)
        }
    }
}

extension KernelBootSpec {
    init(_ kernelBoot: ObjectReader, _ issues: inout VMIIssues) {
        path = kernelBoot.path
        kernelArgs = kernelBoot.string("kernelArgs", &issues)
        hasContainer = kernelBoot.has("container")
        let container = kernelBoot.object("container", &issues)
        image = container.string("image", &issues)
        kernelPath = container.string("kernelPath", &issues)
        initrdPath = container.string("initrdPath", &issues)
    }
}

extension DevicesSpec {
    static let refused = [
        FieldRule(key: "gpus", reason: "GPU passthrough (VFIO) is not supported"),
        FieldRule(key: "hostDevices", reason: "host device passthrough (VFIO) is not supported"),
        FieldRule(key: "filesystems", reason: "virtiofs filesystems are not supported yet"),
        FieldRule(key: "watchdog", reason: "there is no watchdog device"),
        FieldRule(key: "sound", reason: "there is no sound device"),
        FieldRule(key: "tpm", reason: "there is no TPM device"),
        FieldRule(key: "clientPassthrough", reason: "USB redirection is not supported"),
        FieldRule(key: "downwardMetrics", reason: "the downward-metrics virtio-serial port is not supported"),
    ]
    static let ignored = [
        FieldRule(key: "inputs", reason: "the VM has no graphics, so no tablet or keyboard devices"),
        FieldRule(key: "video", reason: "the VM has no graphics"),
        FieldRule(key: "panicDevices", reason: "there is no panic device; a guest panic shows on the serial console"),
        FieldRule(key: "blockMultiQueue", reason: "virtio-blk devices have one queue"),
        FieldRule(key: "networkInterfaceMultiqueue", reason: "virtio-net devices have one queue pair"),
    ]

    init(_ devices: ObjectReader, _ issues: inout VMIIssues) {
        path = devices.path
        devices.refuse(DevicesSpec.refused, &issues)
        devices.ignore(DevicesSpec.ignored, &issues)
        if devices.bool("autoattachVSOCK", &issues) == true {
            issues.error(devices.path.key("autoattachVSOCK"), "virtio-vsock is not supported")
        }
        disks = devices.list("disks", &issues).map { DiskSpec(ObjectReader($0.node, at: $0.path, &issues), &issues) }
        interfaces = devices.list("interfaces", &issues).map { InterfaceSpec(ObjectReader($0.node, at: $0.path, &issues), &issues) }
        rng = devices.has("rng")
        _ = devices.object("rng", &issues)
        autoattachSerialConsole = devices.bool("autoattachSerialConsole", &issues)
        autoattachPodInterface = devices.bool("autoattachPodInterface", &issues)
        logSerialConsole = devices.bool("logSerialConsole", &issues)
    }
}

extension DiskSpec {
    init(_ disk: ObjectReader, _ issues: inout VMIIssues) {
        path = disk.path
        name = disk.string("name", &issues)
        let set = [Device.disk, .cdrom, .lun].filter { disk.has($0.rawValue) }
        if set.count > 1 {
            issues.error(disk.path, "sets \(set.map(\.rawValue).joined(separator: " and ")): a disk is exactly one of disk, cdrom or lun")
        }
        device = set.first
        if let device {
            let target = disk.object(device.rawValue, &issues)
            bus = target.string("bus", &issues)
            readOnly = target.bool("readonly", &issues) ?? false
            target.ignore([FieldRule(key: "pciAddress", reason: "virtio devices sit on virtio-mmio, not PCI")], &issues)
        }
        serial = disk.string("serial", &issues)
        bootOrder = disk.integer("bootOrder", in: 1...Int64(Int32.max), &issues)
        disk.refuse([FieldRule(key: "blockSize", reason: "disks have 512-byte logical sectors; custom block sizes are not supported")], &issues)
        disk.ignore([FieldRule(key: "cache", reason: "images are opened through the host page cache and guest flushes reach the disk with fdatasync"),
                     FieldRule(key: "io", reason: "device I/O runs on the launcher's event loop"),
                     FieldRule(key: "dedicatedIOThread", reason: "all device I/O runs on the launcher's one event-loop thread"),
                     FieldRule(key: "errorPolicy", reason: "I/O errors are reported to the guest (IOERR)"),
                     FieldRule(key: "shareable", reason: "images are opened without locks")], &issues)
    }
}

extension InterfaceSpec {
    init(_ iface: ObjectReader, _ issues: inout VMIIssues) {
        path = iface.path
        name = iface.string("name", &issues)
        bindings = InterfaceSpec.bindingKeys.filter { iface.has($0) }
        model = iface.string("model", &issues)
        macAddress = iface.string("macAddress", &issues)
        ports = iface.list("ports", &issues).map { item in
            let p = ObjectReader(item.node, at: item.path, &issues)
            return PortSpec(path: p.path, name: p.string("name", &issues), proto: p.string("protocol", &issues),
                            port: p.integer("port", in: 1...65535, &issues))
        }
        iface.refuse([FieldRule(key: "bootOrder", reason: "network boot needs firmware, which the launcher does not have"),
                      FieldRule(key: "dhcpOptions", reason: "custom DHCP options (boot file, TFTP, NTP, private options) are not served yet")], &issues)
        iface.ignore([FieldRule(key: "pciAddress", reason: "virtio devices sit on virtio-mmio, not PCI"),
                      FieldRule(key: "acpiIndex", reason: "virtio-mmio devices have no ACPI index")], &issues)
        if let state = iface.string("state", &issues), state != "up" {
            issues.error(iface.path.key("state"), "interface state '\(state.clipped)' is not supported: interfaces are always up")
        }
    }
}

extension NetworkSpec {
    init(_ network: ObjectReader, _ issues: inout VMIIssues) {
        path = network.path
        name = network.string("name", &issues)
        multus = network.has("multus")
        if network.has("pod") {
            let pod = network.object("pod", &issues)
            self.pod = PodNetworkSpec(vmNetworkCIDR: pod.string("vmNetworkCIDR", &issues),
                                      vmIPv6NetworkCIDR: pod.string("vmIPv6NetworkCIDR", &issues))
        }
    }
}

extension VolumeSpec {
    static let refused = ["configMap", "secret", "serviceAccount", "downwardAPI", "sysprep", "downwardMetrics", "memoryDump"]

    init(_ volume: ObjectReader, index: Int, _ issues: inout VMIIssues) {
        path = volume.path
        self.index = index
        name = volume.string("name", &issues)
        for key in VolumeSpec.refused where volume.has(key) {
            issues.error(volume.path.key(key), "\(key) volumes are not supported yet (KubeVirt serves them as generated disks)")
        }
        if volume.has("persistentVolumeClaim") {
            let pvc = volume.object("persistentVolumeClaim", &issues)
            if pvc.bool("hotpluggable", &issues) == true { issues.error(pvc.path.key("hotpluggable"), "volume hotplug is not supported") }
            sources.append(.persistentVolumeClaim(claimName: pvc.string("claimName", &issues),
                                                  readOnly: pvc.bool("readOnly", &issues) ?? false))
        }
        if volume.has("dataVolume") {
            let dv = volume.object("dataVolume", &issues)
            if dv.bool("hotpluggable", &issues) == true { issues.error(dv.path.key("hotpluggable"), "volume hotplug is not supported") }
            sources.append(.dataVolume(name: dv.string("name", &issues)))
        }
        if volume.has("containerDisk") {
            sources.append(.containerDisk(image: volume.object("containerDisk", &issues).string("image", &issues)))
        }
        if volume.has("ephemeral") {
            let pvc = volume.object("ephemeral", &issues).object("persistentVolumeClaim", &issues)
            sources.append(.ephemeral(claimName: pvc.string("claimName", &issues)))
        }
        if volume.has("emptyDisk") {
            sources.append(.emptyDisk(capacity: volume.object("emptyDisk", &issues).quantity("capacity", &issues)))
        }
        if volume.has("hostDisk") {
            let host = volume.object("hostDisk", &issues)
            sources.append(.hostDisk(path: host.string("path", &issues), type: host.string("type", &issues),
                                     capacity: host.quantity("capacity", &issues)))
        }
        if volume.has("cloudInitNoCloud") {
            sources.append(.cloudInitNoCloud(CloudInitSpec(volume.object("cloudInitNoCloud", &issues), &issues)))
        }
        if volume.has("cloudInitConfigDrive") {
            sources.append(.cloudInitConfigDrive(CloudInitSpec(volume.object("cloudInitConfigDrive", &issues), &issues)))
        }
    }
}

extension CloudInitSpec {
    init(_ source: ObjectReader, _ issues: inout VMIIssues) {
        path = source.path
        userData = source.string("userData", &issues)
        userDataBase64 = source.string("userDataBase64", &issues)
        userDataSecretRef = source.has("secretRef") ? (source.object("secretRef", &issues).string("name", &issues) ?? "") : nil
        networkData = source.string("networkData", &issues)
        networkDataBase64 = source.string("networkDataBase64", &issues)
        networkDataSecretRef = source.has("networkDataSecretRef")
            ? (source.object("networkDataSecretRef", &issues).string("name", &issues) ?? "") : nil
    }
}
