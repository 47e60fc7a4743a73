// Manifests from KubeVirt's examples/ folder (Fixtures/kubevirt-examples, unchanged): each one's
// exact field-named errors, and what the rest maps to once it boots a kernel.
import Foundation
@testable import PodIntegration
import Testing

@Suite struct KubeVirtExampleTests {
    /// The error paths of every example as submitted, in the order they are reported.
    static let expected: [String: [String]] = [
        "vm-alpine-datavolume.yaml": ["spec.template.spec.domain.firmware.kernelBoot"],
        "vmi-alpine-efi.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-block-pvc.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-fedora-isolated.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-gpu.yaml": ["spec.domain.devices.gpus[0]", "spec.domain.firmware.kernelBoot"],
        "vmi-host-disk.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-macvtap.yaml": ["spec.domain.firmware.kernelBoot", "spec.networks[0].multus",
                             "spec.domain.devices.interfaces[0].macvtap"],
        "vmi-multus-multiple-net.yaml": ["spec.domain.firmware.kernelBoot", "spec.networks[1].multus"],
        "vmi-replicaset-cirros.yaml": ["kind"],
        "vmi-sata.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-secureboot.yaml": ["spec.domain.firmware.bootloader.efi.secureBoot", "spec.domain.firmware.kernelBoot"],
        "vmi-slirp.yaml": ["spec.domain.firmware.kernelBoot", "spec.domain.devices.interfaces[0].slirp"],
        "vmi-usb.yaml": ["spec.domain.devices.hostDevices[0]", "spec.domain.firmware.kernelBoot"],
        "vmi-vsock.yaml": ["spec.domain.firmware.kernelBoot"],
        "vmi-windows.yaml": ["spec.domain.firmware.kernelBoot", "spec.domain.devices.disks[0].disk.bus",
                             "spec.domain.devices.interfaces[0].model"],
    ]

    @Test func everyExampleHasAnExpectation() {
        #expect(VMIFixtures.yamlFiles(in: VMIFixtures.examples) == Self.expected.keys.sorted())
    }

    @Test(arguments: expected.keys.sorted())
    func exampleFailsWithExactlyTheseFields(name: String) throws {
        let outcome = resolveVMI(try VMIFixtures.text(name, in: VMIFixtures.examples))
        #expect(errorPaths(outcome) == Self.expected[name])
    }

    @Test func efiWithoutSecureBootSaysEFI() throws {
        let outcome = resolveVMI(try VMIFixtures.text("vmi-alpine-efi.yaml", in: VMIFixtures.examples))
        #expect(outcome.errors.first?.contains("firmware boot (EFI) is not supported yet") == true)
        // Given a kernel, the EFI bootloader is ignored with a note; memory.guest wins over requests.
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-alpine-efi.yaml", in: VMIFixtures.examples))).configuration)
        #expect(c.memoryBytes == 128 << 20)
        #expect(c.cpu == CPUTopology(sockets: 1, cores: 1, threads: 1, source: .topology))
    }

    @Test func hostDiskOrCreateIsASparseFileUnderItsVolume() throws {
        let c = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-host-disk.yaml", in: VMIFixtures.examples))).configuration)
        #expect(c.disks == [LaunchDisk(
            name: "host-disk", volumeName: "host-disk", source: "hostDisk",
            hostPath: "/var/run/kubevirt-private/vmi-disks/host-disk/disk.img", mode: .file, format: "raw",
            readOnly: false, serial: "", bootOrder: nil, overlayPath: nil, preparation: .createSparse(bytes: 1 << 30))])
    }

    @Test func dataVolumeAndBlockPVCMapLikePVCs() throws {
        let dv = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vm-alpine-datavolume.yaml", in: VMIFixtures.examples))).configuration)
        #expect(dv.name == "vm-alpine-datavolume")
        #expect(dv.disk("datavolumedisk1")?.hostPath == "/var/run/kubevirt-private/vmi-disks/datavolumedisk1/disk.img")
        let block = try #require(resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-block-pvc.yaml", in: VMIFixtures.examples)),
                                            environment: fakePod(blockDevices: ["/dev/blockpvcdisk"])).configuration)
        #expect(block.disk("blockpvcdisk")?.hostPath == "/dev/blockpvcdisk")
        #expect(block.disk("blockpvcdisk")?.mode == .block)
        #expect(block.memoryBytes == 4_096_000_000)  // resources.requests.memory, 4096M
    }

    @Test func sataVMIGetsItsVolumeAsADefaultVirtioDisk() throws {
        let outcome = resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-sata.yaml", in: VMIFixtures.examples)))
        let c = try #require(outcome.configuration)
        #expect(c.disks.map(\.hostPath) == ["/var/run/kubevirt/container-disks/disk_0.img"])
        #expect(outcome.notes.contains { $0.hasPrefix("spec.volumes[0]: no disk named 'containerdisk'") })
    }

    @Test func dedicatedCPUsAreNotedNotRefused() throws {
        let outcome = resolveVMI(try withKernelBoot(VMIFixtures.text("vmi-fedora-isolated.yaml", in: VMIFixtures.examples)))
        #expect(outcome.configuration != nil)
        #expect(outcome.notes.contains { $0.hasPrefix("spec.domain.cpu.dedicatedCpuPlacement: ignored") })
    }
}
