// Every sample in shared/vmi-samples: the exact errors as submitted (most need firmware), and the
// exact configuration once given a kernelBoot, so disk paths, NICs and sizes are all checked.
import Foundation
@testable import PodIntegration
import Testing

@Suite struct VMISampleTests {
    static let firmwareError = "spec.domain.firmware.kernelBoot: required: firmware boot (BIOS/EFI) is not supported yet; boot a kernel with firmware.kernelBoot (container with kernelPath, initrdPath, kernelArgs)"

    @Test func copiesMatchTheSharedSamples() throws {
        let shared = VMIFixtures.yamlFiles(in: VMIFixtures.sharedSamples)
        guard !shared.isEmpty else { return }  // shared/ not checked out here: the copies stand alone
        #expect(shared == VMIFixtures.yamlFiles(in: VMIFixtures.samples))
        for name in shared {
            #expect(try VMIFixtures.text(name, in: VMIFixtures.sharedSamples) == VMIFixtures.text(name), "\(name)")
        }
    }

    @Test func everySampleHasAnExpectation() {
        #expect(VMIFixtures.yamlFiles(in: VMIFixtures.samples) == [
            "vm-cirros.yaml", "vmi-ephemeral.yaml", "vmi-fedora.yaml", "vmi-kernel-boot.yaml",
            "vmi-masquerade.yaml", "vmi-nocloud.yaml", "vmi-pvc.yaml", "vmi-sriov.yaml",
        ])
    }

    @Test(arguments: ["vmi-ephemeral.yaml", "vmi-fedora.yaml", "vmi-masquerade.yaml", "vmi-nocloud.yaml", "vmi-pvc.yaml"])
    func samplesNeedingFirmwareGetTheFirmwareError(name: String) throws {
        #expect(resolveVMI(try VMIFixtures.text(name)).errors == [Self.firmwareError])
    }

    @Test func kernelBootSampleResolves() throws {
        let outcome = resolveVMI(try VMIFixtures.text("vmi-kernel-boot.yaml"))
        let c = try #require(outcome.configuration, "\(outcome.errors)")
        #expect(c.name == "vmi-kernel-boot")
        #expect(c.namespace == "default")
        #expect(c.cpu == CPUTopology(sockets: 1, cores: 1, threads: 1, source: .default))
        #expect(c.memoryBytes == 1 << 30)
        #expect(c.boot == KernelBoot(image: "registry:5000/kubevirt/alpine-ext-kernel-boot-demo:devel",
                                     kernelPath: "/var/run/kubevirt/container-disks/kernel-boot/vmlinuz-virt",
                                     initrdPath: "/var/run/kubevirt/container-disks/kernel-boot/initramfs-virt",
                                     commandLine: "console=ttyS0"))
        #expect(c.disks.isEmpty)
        // `devices: {}`: KubeVirt's defaulting attaches the pod network with bridge binding.
        #expect(c.interfaces.count == 1)
        #expect(c.interfaces.first?.binding == .bridge)
        #expect(c.interfaces.first?.tapName == "tap0")
        #expect(c.console == ConsoleConfiguration(serialSocketPath: "/var/run/kubevirt-private/vmi-kernel-boot/virt-serial0",
                                                  virtioConsoleSocketPath: "/var/run/kubevirt-private/vmi-kernel-boot/virt-console0",
                                                  serialToStdout: true))
        #expect(c.rng == false)
        #expect(c.terminationGracePeriodSeconds == 0)
        #expect(outcome.notes.contains { $0.hasPrefix("spec.domain.devices.interfaces: none given") })
    }

    @Test func sriovSampleNamesTheInterfaceAndTheNetwork() throws {
        let outcome = resolveVMI(try VMIFixtures.text("vmi-sriov.yaml"))
        #expect(errorPaths(outcome) == ["spec.domain.firmware.kernelBoot", "spec.networks[1].multus",
                                        "spec.domain.devices.interfaces[1].sriov"])
        // With a kernel the firmware error goes; the SR-IOV and Multus ones stay.
        let booted = resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-sriov.yaml")))
        #expect(errorPaths(booted) == ["spec.networks[1].multus", "spec.domain.devices.interfaces[1].sriov"])
        #expect(booted.errors.last == "spec.domain.devices.interfaces[1].sriov: SR-IOV needs a VFIO-assigned virtual function; the launcher has virtio-net only")
    }

    @Test func virtualMachineResolvesThroughItsTemplate() throws {
        let plain = resolveVMI(try VMIFixtures.text("vm-cirros.yaml"))
        #expect(plain.errors == ["spec.template.spec.domain.firmware.kernelBoot: required: firmware boot (BIOS/EFI) is not supported yet; boot a kernel with firmware.kernelBoot (container with kernelPath, initrdPath, kernelArgs)"])
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vm-cirros.yaml"))).configuration)
        #expect(c.name == "vm-cirros")  // the template has no name: the VM's
        #expect(c.memoryBytes == 128 << 20)
        #expect(c.disks.map(\.name) == ["containerdisk", "cloudinitdisk"])
        #expect(c.disk("containerdisk")?.hostPath == "/var/run/kubevirt/container-disks/disk_0.img")
        #expect(c.disk("cloudinitdisk")?.hostPath == "/var/run/kubevirt-ephemeral-disks/cloud-init-data/default/vm-cirros/noCloud.iso")
        #expect(c.terminationGracePeriodSeconds == 0)
    }

    @Test func ephemeralContainerDiskHasAReadOnlyBaseAndAnOverlay() throws {
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-ephemeral.yaml"))).configuration)
        #expect(c.disks == [LaunchDisk(
            name: "containerdisk", volumeName: "containerdisk", source: "containerDisk",
            hostPath: "/var/run/kubevirt/container-disks/disk_0.img", mode: .file, format: "raw",
            readOnly: false, serial: "", bootOrder: nil,
            overlayPath: "/var/run/kubevirt-ephemeral-disks/disk-data/containerdisk/disk.overlay", preparation: .none)])
        #expect(c.memoryBytes == 134_217_728)
    }

    @Test func nocloudSampleHasIsoAndSparseEmptyDisk() throws {
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-nocloud.yaml"))).configuration)
        #expect(c.disks.map(\.hostPath) == [
            "/var/run/kubevirt/container-disks/disk_0.img",
            "/var/run/kubevirt-ephemeral-disks/cloud-init-data/default/vmi-nocloud/noCloud.iso",
            "/var/run/libvirt/empty-disks/emptydisk.img",
        ])
        let iso = try #require(c.disk("cloudinitdisk"))
        #expect(iso.readOnly)
        #expect(iso.overlayPath == nil)
        #expect(iso.preparation == .cloudInitISO(CloudInitImage(
            dataSource: .noCloud, userData: .bytes(Array("#!/bin/sh\n\necho 'printed from cloud-init userdata'\n".utf8)),
            networkData: nil)))
        #expect(c.disk("emptydisk")?.preparation == .createSparse(bytes: 2 << 30))
        #expect(c.disk("emptydisk")?.readOnly == false)
    }

    @Test func masqueradeSampleForwardsItsPortAndHasRNG() throws {
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-masquerade.yaml"))).configuration)
        #expect(c.memoryBytes == 1_024_000_000)
        #expect(c.rng)
        let nic = try #require(c.interfaces.first)
        #expect(c.interfaces.count == 1)
        #expect(nic.name == "testmasquerade")
        #expect(nic.binding == .masquerade)
        #expect(nic.model == "virtio")
        #expect(nic.guestAddress == "10.0.2.2")
        #expect(nic.gatewayAddress == "10.0.2.1")
        #expect(nic.prefixLength == 24)
        #expect(nic.ports == [LaunchPort(name: "http", proto: "TCP", port: 80)])
        #expect((nic.podInterface, nic.tapName, nic.bridgeName) == ("eth0", "tap0", "k6t-eth0"))
        #expect(nic.macGenerated)
        #expect(nic.macAddress == generatedMAC(namespace: "default", name: "vmi-masquerade", interface: "testmasquerade"))
        #expect(nic.macAddress.hasPrefix("02:"))
        guard case let .cloudInitISO(image)? = c.disk("cloudinitdisk")?.preparation,
              case let .bytes(network)? = image.networkData else {
            Issue.record("cloud-init disk without network data")
            return
        }
        #expect(String(decoding: network, as: UTF8.self).hasPrefix("version: 2\nethernets:\n"))
    }

    @Test func fedoraSampleResolves() throws {
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-fedora.yaml"))).configuration)
        #expect(c.disks.map(\.source) == ["containerDisk", "cloudInitNoCloud"])
        #expect(c.interfaces.map(\.binding) == [.masquerade])
        #expect(c.rng)
        #expect(c.memoryBytes == 1_024_000_000)
    }

    @Test func pvcSampleInFilesystemAndBlockMode() throws {
        let text = try withKernelBoot(VMIFixtures.text("vmi-pvc.yaml"))
        let fs = try #require(resolveVMI(text).configuration?.disk("pvcdisk"))
        #expect(fs.hostPath == "/var/run/kubevirt-private/vmi-disks/pvcdisk/disk.img")
        #expect(fs.mode == .file)
        #expect(fs.overlayPath == nil)
        // Detected: /dev/pvcdisk is a block device in the pod.
        let detected = try #require(resolveVMI(text, environment: fakePod(blockDevices: ["/dev/pvcdisk"])).configuration?.disk("pvcdisk"))
        #expect(detected.hostPath == "/dev/pvcdisk")
        #expect(detected.mode == .block)
        // Told: --block-volume pvcdisk.
        let told = try #require(resolveVMI(text, options: ResolveOptions(blockVolumes: ["pvcdisk"])).configuration?.disk("pvcdisk"))
        #expect(told.hostPath == "/dev/pvcdisk")
        #expect(told.mode == .block)
    }
}
