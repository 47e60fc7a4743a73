// Everything `vmm launch` does to the pod before the first vCPU runs, in an order that fails early
// and leaves nothing half-made: read the kernel and initrd, check and create disk files (empty
// disks, hostDisk DiskOrCreate, cloud-init ISOs, folders for overlays), refuse image formats the
// VMM cannot serve, and only then touch the network (the one step teardown has to undo).
import Glibc
import Logging
import Machine
import VirtioDevices

public struct LaunchPreparationError: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let message: String
    public var description: String { "\(field): \(message)" }
}

/// The kernel and initrd bytes for one boot. Not kept across the VM's life: once loaded they are
/// in guest memory, and a guest reboot reads the files again (16 MiB for a vmlinux is more than
/// everything else the launcher holds).
struct BootFiles: Sendable {
    let kernel: [UInt8]
    let initrd: [UInt8]?
}

/// What the machine is built from at each (re)boot; the networks stay up across guest reboots.
struct PreparedLaunch: Sendable {
    let kernelPath: String
    let initrdPath: String?
    let commandLine: String
    let configuration: LaunchConfiguration
    let disks: [DiskConfiguration]
    let nets: [NetConfiguration]
    let networks: [PodNetwork]
    let cpuTemplate: CPUTemplate
    let releaseStartupPages: Bool
    let logger: Logger

    func readBootFiles() throws(LaunchPreparationError) -> BootFiles {
        try LaunchPreparation.readBootFiles(kernelPath: kernelPath, initrdPath: initrdPath)
    }

    func machine(boot: Int, files: BootFiles) -> MachineConfiguration {
        let c = configuration
        let toStdout = c.console.serialToStdout
        let sink: SerialSink = { byte in if toStdout { LaunchOutput.serialByte(byte) } }
        var m = MachineConfiguration(memorySize: c.memoryBytes, vcpuCount: c.cpu.vcpus,
                                     image: BootImage.linux(kernel: files.kernel, initrd: files.initrd, cmdline: commandLine),
                                     cpuTemplate: cpuTemplate, serialSink: sink, logger: logger)
        m.disks = disks
        m.net = nets
        m.rng = c.rng
        m.releaseStartupPages = releaseStartupPages
        m.serialSocketPath = c.console.serialSocketPath
        if let path = c.console.virtioConsoleSocketPath { m.console = Machine.ConsoleConfiguration.socket(path: path) }
        return m
    }
}

enum LaunchOutput {
    /// The serial console's copy on the container's stdout (what `kubectl logs` shows).
    @Sendable static func serialByte(_ byte: UInt8) {
        var b = byte
        while write(STDOUT_FILENO, &b, 1) < 0 && errno == EINTR {}
    }
}

enum LaunchPreparation {
    static func prepare(_ c: LaunchConfiguration, options: LaunchRunOptions,
                        log: @escaping @Sendable (String) -> Void) throws(LaunchPreparationError) -> (PreparedLaunch, BootFiles) {
        // Read first: a missing kernel fails before anything in the pod changes. These bytes serve
        // the first boot; reboots read the files again.
        let files = try readBootFiles(kernelPath: c.boot.kernelPath, initrdPath: c.boot.initrdPath)
        var disks: [DiskConfiguration] = []
        for (i, disk) in c.disks.enumerated() {
            disks.append(try prepareDisk(disk, index: i, identity: identity(c)))
        }
        for path in [c.console.serialSocketPath, c.console.virtioConsoleSocketPath].compactMap({ $0 }) {
            try makeParent(of: path, field: "console")
        }
        // Network last: it is the only step that changes shared pod state and needs undoing.
        var networks: [PodNetwork] = []
        var nets: [NetConfiguration] = []
        for (i, nic) in c.interfaces.enumerated() {
            let field = "spec.domain.devices.interfaces[\(i)]"
            do {
                let config = try PodNetworkConfiguration(nic, resolvConfPath: options.resolvConfPath, hostname: c.hostname)
                let network = try PodNetwork.setup(config, log: log)
                networks.append(network)
                nets.append(NetConfiguration(tap: .name(network.tapName.description), mac: network.guestMAC))
            } catch {
                networks.forEach { try? $0.teardown() }
                throw LaunchPreparationError(field: field, message: "pod network: \(error)")
            }
        }
        let prepared = PreparedLaunch(kernelPath: c.boot.kernelPath, initrdPath: c.boot.initrdPath,
                                      commandLine: c.boot.commandLine, configuration: c, disks: disks, nets: nets,
                                      networks: networks, cpuTemplate: options.cpuTemplate,
                                      releaseStartupPages: options.releaseStartupPages, logger: options.logger)
        return (prepared, files)
    }

    static func readBootFiles(kernelPath: String, initrdPath: String?) throws(LaunchPreparationError) -> BootFiles {
        let kernel = try read(kernelPath, field: "spec.domain.firmware.kernelBoot.kernelPath")
        let initrd = try initrdPath.map { (path) throws(LaunchPreparationError) in
            try read(path, field: "spec.domain.firmware.kernelBoot.initrdPath")
        }
        return BootFiles(kernel: kernel, initrd: initrd)
    }

    static func identity(_ c: LaunchConfiguration) -> CloudInitIdentity {
        CloudInitIdentity(name: c.name, namespace: c.namespace, specHostname: c.hostname, firmwareUUID: c.firmwareUUID)
    }

    static func prepareDisk(_ d: LaunchDisk, index: Int, identity: CloudInitIdentity) throws(LaunchPreparationError) -> DiskConfiguration {
        let field = "spec.domain.devices.disks[\(index)] (volume \(d.volumeName))"
        switch d.preparation {
        case .none:
            break
        case let .createSparse(bytes):
            try makeParent(of: d.hostPath, field: field)
            do {
                if d.source == "hostDisk" {
                    _ = try DiskImageFile.openOrCreateHostDisk(path: d.hostPath, capacityBytes: bytes)
                } else {
                    _ = try DiskImageFile.createEmptyDisk(path: d.hostPath, capacityBytes: bytes)
                }
            } catch {
                throw LaunchPreparationError(field: field, message: "creating \(d.hostPath): \(error)")
            }
        case let .cloudInitISO(image):
            try makeParent(of: d.hostPath, field: field)
            let content = CloudInitContent(userData: try payload(image.userData, field: field),
                                           networkData: try payload(image.networkData, field: field))
            do {
                let iso = try CloudInitDisk.image(image.dataSource, content: content, identity: identity)
                try CloudInitFiles.writeAtomically(try iso.serialized(), to: d.hostPath).get()
            } catch {
                throw LaunchPreparationError(field: field, message: "writing the cloud-init ISO \(d.hostPath): \(error)")
            }
        }
        try checkFormat(d.hostPath, field: field)
        if let overlay = d.overlayPath { try makeParent(of: overlay, field: field) }
        return DiskConfiguration(path: d.hostPath, readOnly: d.readOnly, serial: d.serial, overlayPath: d.overlayPath)
    }

    static func payload(_ p: CloudInitImage.Payload?, field: String) throws(LaunchPreparationError) -> [UInt8] {
        switch p {
        case nil: return []
        case let .bytes(bytes)?: return bytes
        case let .secretFile(path)?: return try read(path, field: field + " secret", limit: 16 << 20)
        }
    }

    /// Image formats with a header the VMM does not parse: serving them as raw would hand the guest
    /// the container format's metadata as its disk (and let it write over it).
    static let refusedFormats: [(magic: [UInt8], name: String)] = [
        (Array("QFI".utf8) + [0xFB], "qcow2"),
        (Array("KDMV".utf8), "vmdk"),
        (Array("vhdxfile".utf8), "vhdx"),
        (Array("conectix".utf8), "vhd (dynamic)"),
    ]

    static func checkFormat(_ path: String, field: String) throws(LaunchPreparationError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LaunchPreparationError(field: field, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 8)
        // Sound: pread(2) writes at most head.count bytes into the array's own storage.
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return }
        for format in refusedFormats where n >= format.magic.count && Array(head.prefix(format.magic.count)) == format.magic {
            throw LaunchPreparationError(field: field, message: "\(path) is a \(format.name) image; only raw images are served (convert it with `qemu-img convert -O raw`)")
        }
    }

    static func read(_ path: String, field: String, limit: Int = 1 << 30) throws(LaunchPreparationError) -> [UInt8] {
        do { return try HostFile.readAll(path, limit: limit) } catch {
            throw LaunchPreparationError(field: field, message: "\(error)")
        }
    }

    /// `mkdir -p` of the path's folder (KubeVirt's in-pod folders may not exist in a plain pod).
    static func makeParent(of path: String, field: String) throws(LaunchPreparationError) {
        var parts = path.split(separator: "/").map(String.init)
        guard !parts.isEmpty else { return }
        parts.removeLast()
        var current = path.hasPrefix("/") ? "" : "."
        for part in parts {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw LaunchPreparationError(field: field, message: "creating \(current): \(String(cString: strerror(errno)))")
            }
        }
    }
}
