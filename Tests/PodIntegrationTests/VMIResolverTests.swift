// The mapping rules one by one, on small hand-written VMIs: CPU and memory sources, every disk kind
// and its refusals, cloud-init payloads and secrets, interfaces and networks, and that all errors
// of a run are reported together.
@testable import PodIntegration
import Testing

/// A kernel-boot VMI with `domain` and `spec` extras spliced in (YAML, two-space indentation).
func vmi(domain: String = "", spec: String = "", memory: String = "memory:\n      guest: 256Mi") -> String {
    """
    apiVersion: kubevirt.io/v1
    kind: VirtualMachineInstance
    metadata:
      name: test
      namespace: ns1
      uid: 1234-abcd
    spec:
      domain:
        \(memory)
        firmware:
          kernelBoot:
            kernelArgs: console=ttyS0 root=/dev/vda
            container:
              image: example/kernel:1
              kernelPath: /boot/vmlinux
    \(domain.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
    \(spec.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    """
}

@Suite struct VMIResolverTests {
    @Test func minimalKernelBootVMI() throws {
        let c = try #require(resolveVMI(vmi()).configuration)
        #expect(c.namespace == "ns1")
        #expect(c.uid == "1234-abcd")
        #expect(c.boot.kernelPath == "/var/run/kubevirt/container-disks/kernel-boot/vmlinux")
        #expect(c.boot.initrdPath == nil)
        #expect(c.boot.commandLine == "console=ttyS0 root=/dev/vda")
        #expect(c.console.serialSocketPath == "/var/run/kubevirt-private/1234-abcd/virt-serial0")
        #expect(c.terminationGracePeriodSeconds == 30)  // KubeVirt's default
    }

    @Test func cpuTopologyMultiplies() throws {
        let c = try #require(resolveVMI(vmi(domain: "cpu:\n  sockets: 2\n  cores: 3\n  threads: 2")).configuration)
        #expect(c.cpu == CPUTopology(sockets: 2, cores: 3, threads: 2, source: .topology))
        #expect(c.cpu.vcpus == 12)
        let partial = try #require(resolveVMI(vmi(domain: "cpu:\n  cores: 4")).configuration)
        #expect(partial.cpu == CPUTopology(sockets: 1, cores: 4, threads: 1, source: .topology))
        let tooMany = resolveVMI(vmi(domain: "cpu:\n  sockets: 16\n  cores: 16\n  threads: 2"))
        #expect(errorPaths(tooMany) == ["spec.domain.cpu"])
    }

    @Test func cpuFromResourcesRoundsUpAndSaysSo() throws {
        let limits = resolveVMI(vmi(domain: "resources:\n  requests:\n    cpu: 500m\n  limits:\n    cpu: 2500m"))
        #expect(limits.configuration?.cpu == CPUTopology(sockets: 1, cores: 3, threads: 1, source: .limits))
        #expect(limits.notes.contains("spec.domain.resources.limits.cpu: '2500m' rounded up to 3 whole vCPUs"))
        let requests = resolveVMI(vmi(domain: "resources:\n  requests:\n    cpu: 500m"))
        #expect(requests.configuration?.cpu == CPUTopology(sockets: 1, cores: 1, threads: 1, source: .requests))
        #expect(resolveVMI(vmi(domain: "resources:\n  requests:\n    cpu: \"2\"")).configuration?.cpu.vcpus == 2)
        #expect(errorPaths(resolveVMI(vmi(domain: "resources:\n  requests:\n    cpu: 0"))) == ["spec.domain.resources.requests.cpu"])
    }

    @Test func memorySourcesAndErrors() throws {
        #expect(resolveVMI(vmi(memory: "resources:\n      requests:\n        memory: 1.5Gi")).configuration?.memoryBytes == 1_610_612_736)
        #expect(resolveVMI(vmi(memory: "resources:\n      limits:\n        memory: 1e9")).configuration?.memoryBytes == 1_000_001_536)
        let milli = resolveVMI(vmi(memory: "memory:\n      guest: 512m"))
        #expect(milli.errors == ["spec.domain.memory.guest: '512m' uses m (milli, thousandths): not a byte count; did you mean M (10^6) or Mi (2^20)?"])
        #expect(errorPaths(resolveVMI(vmi(memory: "memory:\n      guest: 12 GB"))) == ["spec.domain.memory.guest"])
        #expect(errorPaths(resolveVMI(vmi(memory: "memory:\n      guest: 20Ei"))) == ["spec.domain.memory.guest"])
        #expect(errorPaths(resolveVMI(vmi(memory: "memory:\n      guest: 1.3Ki"))) == ["spec.domain.memory.guest"])
        #expect(errorPaths(resolveVMI(vmi(memory: "memory:\n      guest: 512Ki"))) == ["spec.domain.memory.guest"])
        #expect(errorPaths(resolveVMI(vmi(memory: "memory:\n      guest: -1Gi"))) == ["spec.domain.memory.guest"])
        #expect(resolveVMI(vmi(memory: "resources: {}")).errors == ["spec.domain.memory.guest: required: set memory.guest or resources.requests.memory (for example 512Mi)"])
    }

    @Test func kernelBootProblemsNameTheField() {
        let noContainer = vmi().replacingOccurrences(of: "kernelPath: /boot/vmlinux", with: "kernelPath: boot/vmlinux")
        #expect(errorPaths(resolveVMI(noContainer)) == ["spec.domain.firmware.kernelBoot.container.kernelPath"])
        let noKernel = vmi().replacingOccurrences(of: "kernelPath: /boot/vmlinux", with: "initrdPath: /boot/initrd")
        #expect(errorPaths(resolveVMI(noKernel)) == ["spec.domain.firmware.kernelBoot.container.kernelPath"])
    }

    @Test func allErrorsOfARunAreReported() {
        let outcome = resolveVMI(vmi(domain: """
            devices:
              gpus:
              - name: a
                deviceName: x
              - name: b
                deviceName: y
              disks:
              - name: a
                cdrom: {}
              - name: b
                disk:
                  bus: scsi
              - name: c
                lun: {}
              - name: d
                disk: {bus: floppy}
                serial: "this serial is far too long"
              interfaces:
              - name: default
                masquerade: {}
                model: e1000
                macAddress: "01:00:5e:00:00:01"
            """, spec: """
            networks:
            - name: default
              pod: {}
            volumes:
            - name: a
              containerDisk: {image: x}
            - name: b
              configMap: {name: cm}
            """))
        // Parsing reports refused fields first, then the resolver its mapping errors; the set is exact:
        #expect(Set(errorPaths(outcome)) == [
            "spec.domain.devices.gpus[0]", "spec.domain.devices.gpus[1]",
            "spec.domain.devices.disks[0].cdrom", "spec.domain.devices.disks[1].disk.bus",
            "spec.volumes[1].configMap", "spec.domain.devices.disks[2].lun",
            "spec.domain.devices.disks[3].disk.bus", "spec.domain.devices.disks[3].serial",
            "spec.domain.devices.disks[2].name", "spec.domain.devices.disks[3].name",
            "spec.domain.devices.interfaces[0].model", "spec.domain.devices.interfaces[0].macAddress",
        ])
        #expect(outcome.errors.contains("spec.domain.devices.disks[3].disk.bus: unknown disk bus 'floppy': expected virtio"))
        #expect(outcome.errors.contains("spec.domain.devices.disks[2].name: no volume named 'c' in spec.volumes"))
    }

    @Test func diskOptionsAndEphemeralPVC() throws {
        let c = try #require(resolveVMI(vmi(domain: """
            devices:
              disks:
              - name: root
                disk: {bus: virtio, readonly: true}
                serial: ROOT-1
                bootOrder: 1
              - name: scratch
            """, spec: """
            volumes:
            - name: root
              containerDisk: {image: x}
            - name: scratch
              ephemeral:
                persistentVolumeClaim: {claimName: base}
            """)).configuration)
        let root = try #require(c.disk("root"))
        #expect(root.readOnly)
        #expect(root.overlayPath == nil)  // read-only: nothing to write
        #expect(root.serial == "ROOT-1")
        #expect(root.bootOrder == 1)
        let scratch = try #require(c.disk("scratch"))
        #expect(scratch.hostPath == "/var/run/kubevirt-private/vmi-disks/scratch/disk.img")
        #expect(scratch.overlayPath == "/var/run/kubevirt-ephemeral-disks/disk-data/scratch/disk.overlay")
    }

    @Test func cloudInitPayloads() throws {
        let base64 = try #require(resolveVMI(vmi(spec: """
            volumes:
            - name: ci
              cloudInitConfigDrive:
                userDataBase64: I2Nsb3VkLWNvbmZpZwo=
            """)).configuration?.disk("ci"))
        #expect(base64.hostPath == "/var/run/kubevirt-ephemeral-disks/cloud-init-data/ns1/test/configdrive.iso")
        #expect(base64.preparation == .cloudInitISO(CloudInitImage(dataSource: .configDrive,
                                                                    userData: .bytes(Array("#cloud-config\n".utf8)), networkData: nil)))
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: ci\n  cloudInitNoCloud: {userDataBase64: '!!!'}")))
                == ["spec.volumes[0].cloudInitNoCloud.userDataBase64"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: ci\n  cloudInitNoCloud: {userData: a, userDataBase64: YQ==}")))
                == ["spec.volumes[0].cloudInitNoCloud"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: ci\n  cloudInitNoCloud: {}")))
                == ["spec.volumes[0].cloudInitNoCloud"])
    }

    @Test func cloudInitSecretsAreReadFromTheirMount() throws {
        let text = vmi(spec: """
            volumes:
            - name: ci
              cloudInitNoCloud:
                secretRef: {name: my-secret}
                networkDataSecretRef: {name: my-secret}
            """)
        let mounted = fakePod(files: ["/var/run/kubevirt-private/secret/ci/userData",
                                      "/var/run/kubevirt-private/secret/ci/networkdata"])
        let c = try #require(resolveVMI(text, environment: mounted, options: ResolveOptions(requireSecrets: true)).configuration)
        #expect(c.disk("ci")?.preparation == .cloudInitISO(CloudInitImage(
            dataSource: .noCloud, userData: .secretFile(path: "/var/run/kubevirt-private/secret/ci/userData"),
            networkData: .secretFile(path: "/var/run/kubevirt-private/secret/ci/networkdata"))))
        // Not mounted: an error at launch, a note in a dry run.
        #expect(errorPaths(resolveVMI(text, options: ResolveOptions(requireSecrets: true)))
                == ["spec.volumes[0].cloudInitNoCloud.secretRef", "spec.volumes[0].cloudInitNoCloud.networkDataSecretRef"])
        let dry = resolveVMI(text)
        #expect(dry.configuration != nil)
        #expect(dry.notes.contains { $0.hasPrefix("spec.volumes[0].cloudInitNoCloud.secretRef: Secret 'my-secret' is not mounted") })
    }

    @Test func emptyAndHostDiskErrors() {
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: e\n  emptyDisk: {}"))) == ["spec.volumes[0].emptyDisk.capacity"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: e\n  emptyDisk: {capacity: 100m}"))) == ["spec.volumes[0].emptyDisk.capacity"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: h\n  hostDisk: {path: /a.img, type: Directory}"))) == ["spec.volumes[0].hostDisk.type"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: h\n  hostDisk: {path: /a.img, type: DiskOrCreate}"))) == ["spec.volumes[0].hostDisk.capacity"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: Bad_Name\n  emptyDisk: {capacity: 1Gi}"))) == ["spec.volumes[0].name"])
        #expect(errorPaths(resolveVMI(vmi(spec: "volumes:\n- name: two\n  emptyDisk: {capacity: 1Gi}\n  containerDisk: {image: x}"))) == ["spec.volumes[0]"])
    }

    @Test func masqueradeWithCustomNetworkAndGivenMAC() throws {
        let c = try #require(resolveVMI(vmi(domain: """
            devices:
              interfaces:
              - name: pod
                masquerade: {}
                macAddress: "DE-AD-BE-EF-00-01"
                ports:
                - {port: 22}
                - {name: dns, port: 53, protocol: UDP}
            """, spec: "networks:\n- name: pod\n  pod: {vmNetworkCIDR: 10.11.12.0/28}")).configuration)
        let nic = try #require(c.interfaces.first)
        #expect(nic.macAddress == "de:ad:be:ef:00:01")
        #expect(!nic.macGenerated)
        #expect(nic.guestAddress == "10.11.12.2")
        #expect(nic.gatewayAddress == "10.11.12.1")
        #expect(nic.prefixLength == 28)
        #expect(nic.ports == [LaunchPort(name: nil, proto: "TCP", port: 22), LaunchPort(name: "dns", proto: "UDP", port: 53)])
    }

    @Test func networkRefusals() {
        let bridgePorts = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: p, bridge: {}, ports: [{port: 80}]}",
                                         spec: "networks:\n- {name: p, pod: {}}"))
        #expect(errorPaths(bridgePorts) == ["spec.domain.devices.interfaces[0].ports"])
        let badCIDR = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: p, masquerade: {}}",
                                     spec: "networks:\n- {name: p, pod: {vmNetworkCIDR: 10.0.2.0/31}}"))
        #expect(errorPaths(badCIDR) == ["spec.networks[0].pod.vmNetworkCIDR"])
        let unmatched = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: a, masquerade: {}}",
                                       spec: "networks:\n- {name: b, pod: {}}"))
        #expect(Set(errorPaths(unmatched)) == ["spec.networks[0].name", "spec.domain.devices.interfaces[0].name"])
        let twoBindings = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: p, masquerade: {}, passt: {}}",
                                         spec: "networks:\n- {name: p, pod: {}}"))
        #expect(errorPaths(twoBindings) == ["spec.domain.devices.interfaces[0]"])
        let passt = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: p, passt: {}}", spec: "networks:\n- {name: p, pod: {}}"))
        #expect(errorPaths(passt) == ["spec.domain.devices.interfaces[0].passt"])
        let badPort = resolveVMI(vmi(domain: "devices:\n  interfaces:\n  - {name: p, masquerade: {}, ports: [{port: 70000}, {port: 1, protocol: SCTP}]}",
                                     spec: "networks:\n- {name: p, pod: {}}"))
        #expect(errorPaths(badPort) == ["spec.domain.devices.interfaces[0].ports[0].port", "spec.domain.devices.interfaces[0].ports[1].protocol"])
    }

    @Test func noAutoattachMeansNoNICAndNoConsoles() throws {
        let c = try #require(resolveVMI(vmi(domain: "devices:\n  autoattachPodInterface: false\n  autoattachSerialConsole: false")).configuration)
        #expect(c.interfaces.isEmpty)
        #expect(c.console.serialSocketPath == nil)
        #expect(c.console.virtioConsoleSocketPath == nil)
    }

    @Test func documentLevelProblems() {
        #expect(resolveVMI("").errors == ["(document): empty: expected a VirtualMachineInstance"])
        #expect(errorPaths(resolveVMI("- a\n- b")) == ["(document)"])
        #expect(errorPaths(resolveVMI("{not json")) == ["(document)"])
        #expect(errorPaths(resolveVMI("a: 1\n---\nb: 2")) == ["(document)"])
        #expect(Set(errorPaths(resolveVMI("apiVersion: v1\nkind: Pod"))) == ["apiVersion", "kind"])
        #expect(errorPaths(resolveVMI("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: x}\nspec: {}"))
                == ["spec.template"])
    }

    @Test func jsonInputIsYAML() throws {
        let json = """
        {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "j"},
         "spec": {"domain": {"memory": {"guest": "64Mi"}, "cpu": {"cores": 2},
                  "firmware": {"kernelBoot": {"container": {"image": "k", "kernelPath": "/vmlinuz"}}}}}}
        """
        let c = try #require(resolveVMI(json).configuration)
        #expect(c.memoryBytes == 64 << 20)
        #expect(c.cpu.vcpus == 2)
    }

    @Test func wrongTypesNameTheirField() {
        let outcome = resolveVMI(vmi(domain: "cpu:\n  cores: many\ndevices:\n  disks: {a: 1}\n  rng: [1]"))
        #expect(errorPaths(outcome) == ["spec.domain.cpu.cores", "spec.domain.devices.disks", "spec.domain.devices.rng"])
    }

    @Test func jsonOutputIsValidAndOrdered() throws {
        let c = try #require(resolveVMI(vmi()).configuration)
        let text = c.json.rendered()
        #expect(text.hasPrefix("{\n  \"name\": \"test\",\n  \"namespace\": \"ns1\","))
        #expect(text.contains("\"memoryBytes\": 268435456"))
        #expect(JSONValue.quote("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}
