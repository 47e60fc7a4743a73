// Disks: each `domain.devices.disks[i]` matched by name with a `spec.volumes[j]`, resolved to the
// file or block device KubeVirt would have put in the pod (paths: KubeVirtPodLayout.swift).
// The launcher has virtio-blk only, so every other bus and device kind is refused by field.

extension VMIResolver {
    func resolveDisks(_ spec: VMISpec, meta: ResolvedMetadata, _ issues: inout VMIIssues) -> [LaunchDisk] {
        var volumesByName: [String: VolumeSpec] = [:]
        for volume in spec.volumes {
            guard let name = volume.name else {
                issues.error(volume.path.key("name"), "required")
                continue
            }
            guard isDNSLabel(name) else {
                issues.error(volume.path.key("name"), "'\(name.clipped)' is not a valid volume name (lowercase letters, digits and '-', at most 63): it names files in the pod")
                continue
            }
            if volumesByName[name] != nil {
                issues.error(volume.path.key("name"), "'\(name)' is used by another volume")
                continue
            }
            volumesByName[name] = volume
        }

        var disks = spec.domain.devices.disks
        // KubeVirt's API defaulting gives every volume without a disk a `disk: {}` of its own name.
        let diskNames = Set(disks.compactMap(\.name))
        for volume in spec.volumes {
            guard let name = volume.name, volumesByName[name] != nil, !diskNames.contains(name) else { continue }
            issues.note(volume.path, "no disk named '\(name)': attached as a virtio disk, as KubeVirt's defaulting does")
            disks.append(DiskSpec(path: volume.path, name: name, device: .disk))
        }

        var seen = Set<String>()
        var cloudInitVolumes = 0
        var result: [LaunchDisk] = []
        for disk in disks {
            guard let name = disk.name else {
                issues.error(disk.path.key("name"), "required: names the volume this disk shows")
                continue
            }
            guard seen.insert(name).inserted else {
                issues.error(disk.path.key("name"), "'\(name.clipped)' is used by another disk")
                continue
            }
            let deviceOK = checkDevice(disk, &issues)
            var serial = ""
            if let s = disk.serial {
                if s.isEmpty || s.utf8.count > 20 || !s.utf8.allSatisfy(isSerialByte) {
                    issues.error(disk.path.key("serial"), "'\(s.clipped)' is not a disk serial: 1 to 20 of A-Z a-z 0-9 _ . + - (virtio-blk serials are 20 bytes)")
                } else {
                    serial = s
                }
            }
            guard let volume = volumesByName[name] else {
                if !spec.volumes.contains(where: { $0.name == name }) {
                    issues.error(disk.path.key("name"), "no volume named '\(name.clipped)' in \(spec.path.key("volumes"))")
                }
                continue
            }
            guard volume.sources.count == 1, let source = volume.sources.first else {
                if volume.sources.count > 1 {
                    issues.error(volume.path, "sets \(volume.sources.map(\.key).joined(separator: " and ")): a volume has exactly one source")
                } else if !issues.errors.contains(where: { $0.path.description.hasPrefix(volume.path.description + ".") }) {
                    issues.error(volume.path, "no volume source the launcher supports: expected containerDisk, persistentVolumeClaim, dataVolume, ephemeral, emptyDisk, hostDisk, cloudInitNoCloud or cloudInitConfigDrive")
                }
                continue
            }
            if case .cloudInitNoCloud = source { cloudInitVolumes += 1 }
            if case .cloudInitConfigDrive = source { cloudInitVolumes += 1 }
            if cloudInitVolumes > 1, source.key.hasPrefix("cloudInit") {
                issues.error(volume.path.key(source.key), "a VMI has at most one cloud-init volume")
                continue
            }
            guard let backing = resolveBacking(source, volume: volume, name: name, meta: meta, &issues), deviceOK else { continue }
            result.append(LaunchDisk(
                name: name, volumeName: name, source: source.key, hostPath: backing.path, mode: backing.mode,
                format: "raw", readOnly: disk.readOnly || backing.readOnly, serial: serial, bootOrder: disk.bootOrder,
                overlayPath: disk.readOnly ? nil : backing.overlay, preparation: backing.preparation))
        }
        return result
    }

    /// The device must be `disk` on the virtio bus; everything else needs an emulated controller.
    private func checkDevice(_ disk: DiskSpec, _ issues: inout VMIIssues) -> Bool {
        switch disk.device {
        case .cdrom?:
            issues.error(disk.path.key("cdrom"), "CD-ROM drives need an emulated SATA or SCSI controller; the launcher has virtio-blk only: use disk: {bus: virtio} (a cloud-init ISO works as a virtio disk)")
            return false
        case .lun?:
            issues.error(disk.path.key("lun"), "SCSI LUN passthrough is not supported; the launcher has virtio-blk only: use disk: {bus: virtio}")
            return false
        case .disk?, nil:
            break
        }
        switch disk.bus {
        case nil, "virtio"?:
            return true
        case let bus? where ["sata", "scsi", "usb", "ide"].contains(bus):
            issues.error(disk.path.keys("disk", "bus"), "bus \(bus) needs an emulated controller; the launcher has virtio-blk only: use virtio")
            return false
        case let bus?:
            issues.error(disk.path.keys("disk", "bus"), "unknown disk bus '\(bus.clipped)': expected virtio")
            return false
        }
    }

    private struct Backing {
        var path: String
        var mode: LaunchDisk.Mode = .file
        var readOnly = false
        var overlay: String?
        var preparation: LaunchDisk.Preparation = .none
    }

    private func resolveBacking(_ source: VolumeSource, volume: VolumeSpec, name: String,
                                meta: ResolvedMetadata, _ issues: inout VMIIssues) -> Backing? {
        let at = volume.path.key(source.key)
        switch source {
        case let .persistentVolumeClaim(claim, readOnly):
            guard claim?.isEmpty == false else { issues.error(at.key("claimName"), "required"); return nil }
            var b = persistentBacking(volume: name)
            b.readOnly = readOnly
            return b
        case let .dataVolume(dv):
            guard dv?.isEmpty == false else { issues.error(at.key("name"), "required"); return nil }
            return persistentBacking(volume: name)
        case let .ephemeral(claim):
            guard claim?.isEmpty == false else { issues.error(at.keys("persistentVolumeClaim", "claimName"), "required"); return nil }
            // The claim is only read; writes land in a throw-away overlay, as KubeVirt's ephemeral volumes.
            var b = persistentBacking(volume: name)
            b.overlay = KubeVirtPaths.overlay(volume: name)
            return b
        case let .containerDisk(image):
            guard image?.isEmpty == false else { issues.error(at.key("image"), "required"); return nil }
            // The base is the image's file, never written: writes go to a per-VM overlay.
            return Backing(path: KubeVirtPaths.containerDisk(volumeIndex: volume.index),
                           overlay: KubeVirtPaths.overlay(volume: name))
        case let .emptyDisk(capacity):
            guard let capacity else { issues.error(at.key("capacity"), "required: the disk's size, for example 2Gi"); return nil }
            guard let bytes = byteCount(capacity, &issues) else { return nil }
            guard bytes > 0 else { issues.error(capacity.path, "must be more than 0"); return nil }
            return Backing(path: KubeVirtPaths.emptyDisk(volume: name), preparation: .createSparse(bytes: bytes))
        case let .hostDisk(path, type, capacity):
            return hostDiskBacking(at: at, volume: name, path: path, type: type, capacity: capacity, &issues)
        case let .cloudInitNoCloud(ci):
            return cloudInitBacking(ci, flavor: .noCloud, volume: name, meta: meta, &issues)
        case let .cloudInitConfigDrive(ci):
            return cloudInitBacking(ci, flavor: .configDrive, volume: name, meta: meta, &issues)
        }
    }

    /// A PVC or DataVolume: a block device at /dev/<volume> when the pod has one there (or the
    /// launcher was told so), else the filesystem-mode image KubeVirt expects.
    private func persistentBacking(volume: String) -> Backing {
        let device = KubeVirtPaths.blockDevice(volume: volume)
        if options.blockVolumes.contains(volume) || environment.isBlockDevice(device) {
            return Backing(path: device, mode: .block)
        }
        return Backing(path: KubeVirtPaths.persistentDisk(volume: volume))
    }

    private func hostDiskBacking(at: FieldPath, volume: String, path: String?, type: String?,
                                 capacity: LocatedQuantity?, _ issues: inout VMIIssues) -> Backing? {
        guard let path, path.hasPrefix("/"), !baseName(path).isEmpty, baseName(path) != "..", baseName(path) != "." else {
            issues.error(at.key("path"), path == nil ? "required: the image file on the node" : "'\(path!.clipped)' must be an absolute path to a file")
            return nil
        }
        let mounted = KubeVirtPaths.hostDisk(volume: volume, path: path)
        switch type {
        case "Disk"?:
            return Backing(path: mounted)
        case "DiskOrCreate"?:
            guard let capacity else {
                issues.error(at.key("capacity"), "required with type DiskOrCreate: the size of the image to create")
                return nil
            }
            guard let bytes = byteCount(capacity, &issues) else { return nil }
            guard bytes > 0 else { issues.error(capacity.path, "must be more than 0"); return nil }
            return Backing(path: mounted, preparation: .createSparse(bytes: bytes))
        case nil:
            issues.error(at.key("type"), "required: Disk (the image exists) or DiskOrCreate")
            return nil
        case let t?:
            issues.error(at.key("type"), "'\(t.clipped)' is not a hostDisk type: expected Disk or DiskOrCreate")
            return nil
        }
    }

    private func cloudInitBacking(_ ci: CloudInitSpec, flavor: CloudInitDataSource, volume: String,
                                  meta: ResolvedMetadata, _ issues: inout VMIIssues) -> Backing? {
        let secretDir = KubeVirtPaths.secretDirectory(volume: volume)
        let user = payload(inline: ci.userData, base64: ci.userDataBase64, secret: ci.userDataSecretRef,
                           keys: ("userData", "userDataBase64", "secretRef"), files: ["userdata", "userData"],
                           secretDir: secretDir, at: ci.path, &issues)
        let network = payload(inline: ci.networkData, base64: ci.networkDataBase64, secret: ci.networkDataSecretRef,
                              keys: ("networkData", "networkDataBase64", "networkDataSecretRef"),
                              files: ["networkdata", "networkData"], secretDir: secretDir, at: ci.path, &issues)
        guard case let .ok(userData) = user, case let .ok(networkData) = network else { return nil }
        if userData == nil, networkData == nil {
            issues.error(ci.path, "needs user data or network data: set userData, userDataBase64 or secretRef")
            return nil
        }
        let image = CloudInitImage(dataSource: flavor, userData: userData, networkData: networkData)
        return Backing(path: KubeVirtPaths.cloudInitISO(namespace: meta.namespace, name: meta.name, flavor: flavor),
                       readOnly: true, preparation: .cloudInitISO(image))
    }

    private enum PayloadResult { case ok(CloudInitImage.Payload?), failed }

    /// At most one of inline, base64 and Secret; base64 decoded now so a bad one is caught here.
    private func payload(inline: String?, base64: String?, secret: String?, keys: (String, String, String),
                         files: [String], secretDir: String, at: FieldPath, _ issues: inout VMIIssues) -> PayloadResult {
        let set = [(inline, keys.0), (base64, keys.1), (secret, keys.2)].filter { $0.0 != nil }.map(\.1)
        if set.count > 1 {
            issues.error(at, "sets \(set.joined(separator: " and ")): use only one of them")
            return .failed
        }
        if let inline { return .ok(.bytes(Array(inline.utf8))) }
        if let base64 {
            switch CloudInitBase64.decode(base64) {
            case let .success(bytes): return .ok(.bytes(bytes))
            case let .failure(.invalidCharacter(offset)):
                issues.error(at.key(keys.1), "not valid base64: bad character at offset \(offset)")
            case .failure(.truncated):
                issues.error(at.key(keys.1), "not valid base64: cut short (not whole 4-character groups)")
            }
            return .failed
        }
        if let secret {
            guard !secret.isEmpty else { issues.error(at.keys(keys.2, "name"), "required: the Secret's name"); return .failed }
            // KubeVirt mounts the Secret at <SecretSourceDir>/<volume> and accepts either key spelling.
            let candidates = files.map { "\(secretDir)/\($0)" }
            if let found = candidates.first(where: environment.fileExists) { return .ok(.secretFile(path: found)) }
            let message = "Secret '\(secret.clipped)' is not mounted at \(secretDir) (expected \(files.joined(separator: " or ")))"
            if options.requireSecrets {
                issues.error(at.key(keys.2), message)
                return .failed
            }
            issues.note(at.key(keys.2), message + "; it is read from there at launch")
            return .ok(.secretFile(path: candidates[0]))
        }
        return .ok(nil)
    }
}

private func isSerialByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
}
