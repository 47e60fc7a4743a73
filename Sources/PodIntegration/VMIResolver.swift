// Maps a parsed VMI to a LaunchConfiguration: CPU, memory, kernel boot and consoles here; disks in
// VMIResolverDisks.swift, network in VMIResolverNetwork.swift. Every check runs even after an
// error, so the user sees all problems in one run.

public struct VMIResolver: Sendable {
    public var environment: PodEnvironment
    public var options: ResolveOptions

    public init(environment: PodEnvironment = .live, options: ResolveOptions = ResolveOptions()) {
        self.environment = environment
        self.options = options
    }

    /// The resolved configuration and its notes, or every error found (with the notes).
    public func resolve(text: String) throws(VMIRejected) -> (configuration: LaunchConfiguration, notes: [VMIIssue]) {
        var issues = VMIIssues()
        let document = VMIDocument.parse(text, &issues)
        let configuration = document.map { resolve($0, &issues) }
        guard let configuration = configuration ?? nil, !issues.hasErrors else {
            throw VMIRejected(errors: issues.errors, notes: issues.notes)
        }
        return (configuration, issues.notes)
    }

    /// Resolves `document`; nil when something essential is missing (errors are in `issues`).
    public func resolve(_ document: VMIDocument, _ issues: inout VMIIssues) -> LaunchConfiguration? {
        let spec = document.spec
        let meta = resolveMetadata(document.metadata, &issues)
        let cpu = resolveCPU(spec.domain, &issues)
        let memory = resolveMemory(spec.domain, &issues)
        let boot = resolveBoot(spec.domain.firmware, &issues)
        let disks = resolveDisks(spec, meta: meta, &issues)
        let interfaces = resolveNetwork(spec, meta: meta, &issues)
        let devices = spec.domain.devices
        let consoleDir = KubeVirtPaths.vmiPrivateDir(uidOrName: meta.uid ?? meta.name)
        let consoles = devices.autoattachSerialConsole != false
        let console = ConsoleConfiguration(
            serialSocketPath: consoles ? consoleDir + "/virt-serial0" : nil,
            virtioConsoleSocketPath: consoles ? consoleDir + "/virt-console0" : nil,
            serialToStdout: devices.logSerialConsole ?? true)
        guard let cpu, let memory, let boot else { return nil }
        return LaunchConfiguration(
            name: meta.name, namespace: meta.namespace, uid: meta.uid, hostname: meta.hostname(spec),
            firmwareUUID: spec.domain.firmware.uuid,
            cpu: cpu, memoryBytes: memory, boot: boot, disks: disks, interfaces: interfaces,
            console: console, rng: devices.rng,
            // KubeVirt's default grace period when none is given.
            terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30)
    }

    struct ResolvedMetadata {
        var name: String
        var namespace: String
        var uid: String?
        func hostname(_ spec: VMISpec) -> String { spec.hostname ?? name }
    }

    func resolveMetadata(_ meta: VMIMetadata, _ issues: inout VMIIssues) -> ResolvedMetadata {
        let name: String
        if let n = meta.name, isDNSSubdomain(n) {
            name = n
        } else {
            issues.error(FieldPath("metadata.name"), meta.name == nil
                ? "required: the VMI's name names its files in the pod"
                : "'\(meta.name!.clipped)' is not a valid name (lowercase letters, digits, '-' and '.', at most 253)")
            name = "invalid"
        }
        var namespace = "default"
        if let ns = meta.namespace {
            if isDNSLabel(ns) { namespace = ns } else {
                issues.error(FieldPath("metadata.namespace"), "'\(ns.clipped)' is not a valid namespace (lowercase letters, digits and '-', at most 63)")
            }
        } else {
            issues.note(FieldPath("metadata.namespace"), "not set: using 'default' (cloud-init instance-id and file paths use it)")
        }
        var uid = meta.uid
        if let u = uid, u.isEmpty || u.contains("/") || u == "." || u == ".." {
            issues.error(FieldPath("metadata.uid"), "'\(u.clipped)' cannot name a folder")
            uid = nil
        }
        return ResolvedMetadata(name: name, namespace: namespace, uid: uid)
    }

    /// `domain.cpu` cores × sockets × threads when any is set, else `resources.limits.cpu`, else
    /// `resources.requests.cpu` rounded up to whole vCPUs (KubeVirt's GetCPUTopology order), else 1.
    func resolveCPU(_ domain: DomainSpec, _ issues: inout VMIIssues) -> CPUTopology? {
        if let cpu = domain.cpu, cpu.cores != nil || cpu.sockets != nil || cpu.threads != nil {
            let t = CPUTopology(sockets: Int(cpu.sockets ?? 1), cores: Int(cpu.cores ?? 1),
                                threads: Int(cpu.threads ?? 1), source: .topology)
            guard t.vcpus <= 255 else {
                issues.error(cpu.path, "\(t.sockets) sockets × \(t.cores) cores × \(t.threads) threads = \(t.vcpus) vCPUs: at most 255")
                return nil
            }
            return t
        }
        for (quantity, source) in [(domain.limits.cpu, CPUTopology.Source.limits), (domain.requests.cpu, .requests)] {
            guard let q = quantity else { continue }
            guard let (count, rounded) = q.quantity.wholeValue(roundingUp: true), count >= 1 else {
                issues.error(q.path, "'\(q.quantity)' is not a CPU count: expected a positive quantity such as 2 or 1500m")
                return nil
            }
            guard count <= 255 else {
                issues.error(q.path, "'\(q.quantity)' asks for \(count) vCPUs: at most 255")
                return nil
            }
            if rounded { issues.note(q.path, "'\(q.quantity)' rounded up to \(count) whole vCPU\(count == 1 ? "" : "s")") }
            return CPUTopology(sockets: 1, cores: Int(count), threads: 1, source: source)
        }
        return CPUTopology(sockets: 1, cores: 1, threads: 1, source: .default)
    }

    /// `memory.guest`, else `resources.requests.memory`, else `resources.limits.memory`, in bytes.
    func resolveMemory(_ domain: DomainSpec, _ issues: inout VMIIssues) -> UInt64? {
        guard let q = domain.guestMemory ?? domain.requests.memory ?? domain.limits.memory else {
            // A memory field that was given but unreadable already has its error.
            let given = [domain.path.keys("memory", "guest"), domain.path.keys("resources", "requests", "memory"),
                         domain.path.keys("resources", "limits", "memory")]
            if issues.errors.contains(where: { given.contains($0.path) }) { return nil }
            issues.error(domain.path.keys("memory", "guest"), "required: set memory.guest or resources.requests.memory (for example 512Mi)")
            return nil
        }
        guard let bytes = byteCount(q, &issues) else { return nil }
        guard bytes >= 1 << 20 else {
            issues.error(q.path, "'\(q.quantity)' is \(bytes) bytes: guest memory must be at least 1Mi")
            return nil
        }
        // The machine maps RAM in 4 KiB pages; a ragged size is rounded up, as QEMU does.
        let page: UInt64 = 4096
        guard bytes <= UInt64.max - page else {
            issues.error(q.path, "'\(q.quantity)' is too large")
            return nil
        }
        let rounded = (bytes + page - 1) / page * page
        if rounded != bytes { issues.note(q.path, "\(bytes) bytes rounded up to \(rounded) (whole 4 KiB pages)") }
        return rounded
    }

    /// A byte count: whole, non-negative, no milli suffix, fits 64 bits.
    func byteCount(_ q: LocatedQuantity, _ issues: inout VMIIssues) -> UInt64? {
        if q.quantity.isMilli {
            issues.error(q.path, "'\(q.quantity)' uses m (milli, thousandths): not a byte count; did you mean M (10^6) or Mi (2^20)?")
            return nil
        }
        if q.quantity.negative {
            issues.error(q.path, "'\(q.quantity)' is negative: expected a byte count")
            return nil
        }
        if q.quantity.exceedsUInt64 {
            issues.error(q.path, "'\(q.quantity)' is too large: at most 2^64-1 bytes")
            return nil
        }
        guard let (bytes, _) = q.quantity.wholeValue(roundingUp: false) else {
            issues.error(q.path, "'\(q.quantity)' is not a whole number of bytes")
            return nil
        }
        return bytes
    }

    /// Kernel boot only for now: a VMI that needs BIOS or EFI firmware is refused clearly.
    func resolveBoot(_ firmware: FirmwareSpec, _ issues: inout VMIIssues) -> KernelBoot? {
        if firmware.secureBoot == true {
            issues.error(firmware.path.keys("bootloader", "efi", "secureBoot"),
                         "secure boot needs EFI firmware, which the launcher does not have (set secureBoot: false with kernelBoot)")
        }
        guard let kb = firmware.kernelBoot else {
            let which = firmware.efi ? "EFI" : firmware.bios ? "BIOS" : "BIOS/EFI"
            issues.error(firmware.path.key("kernelBoot"),
                         "required: firmware boot (\(which)) is not supported yet; boot a kernel with firmware.kernelBoot (container with kernelPath, initrdPath, kernelArgs)")
            return nil
        }
        if firmware.secureBoot != true, firmware.efi || firmware.bios {
            issues.note(firmware.path.key("bootloader"), "ignored: kernelBoot starts the kernel directly, without firmware")
        }
        guard kb.hasContainer else {
            issues.error(kb.path.key("container"), "required: the container image holding the kernel (and initrd)")
            return nil
        }
        let container = kb.path.key("container")
        var ok = true
        func artifact(_ value: String?, _ key: String, required: Bool) -> String? {
            guard let value else {
                if required {
                    issues.error(container.key(key), "required: the launcher boots a kernel; initrd-only boot needs firmware")
                    ok = false
                }
                return nil
            }
            guard value.hasPrefix("/"), !baseName(value).isEmpty, baseName(value) != "..", baseName(value) != "." else {
                issues.error(container.key(key), "'\(value.clipped)' must be an absolute path to a file in the image")
                ok = false
                return nil
            }
            return KubeVirtPaths.kernelBootArtifact(value)
        }
        let kernel = artifact(kb.kernelPath, "kernelPath", required: true)
        let initrd = artifact(kb.initrdPath, "initrdPath", required: false)
        if kb.image == nil || kb.image?.isEmpty == true {
            issues.error(container.key("image"), "required: the image the pod pulls the kernel from")
        }
        guard ok, let kernel else { return nil }
        return KernelBoot(image: kb.image, kernelPath: kernel, initrdPath: initrd, commandLine: kb.kernelArgs ?? "")
    }
}

/// A DNS-1123 label: what Kubernetes requires of volume, network and namespace names.
func isDNSLabel(_ s: String) -> Bool {
    guard !s.isEmpty, s.utf8.count <= 63, s.first != "-", s.last != "-" else { return false }
    return s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
}

/// A DNS-1123 subdomain: what Kubernetes requires of object names.
func isDNSSubdomain(_ s: String) -> Bool {
    guard !s.isEmpty, s.utf8.count <= 253 else { return false }
    return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
}
