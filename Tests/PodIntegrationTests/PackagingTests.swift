// No container engine runs on the CI machines, so the packaging files are checked by parsing them:
// the Pod manifest's shape and capabilities, the VMI inside its ConfigMap (through the launcher's
// own resolver), and the Containerfile's stages.
import Foundation
import PodIntegration
import Testing
import Yams

private let packagingDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("packaging")

private func text(_ name: String) throws -> String {
    try String(contentsOf: packagingDirectory.appendingPathComponent(name), encoding: .utf8)
}

@Suite struct PackagingTests {
    /// The Pod and ConfigMap documents of launcher-pod.yaml, by kind.
    func manifests() throws -> [String: [String: Any]] {
        var byKind: [String: [String: Any]] = [:]
        for document in try Yams.load_all(yaml: try text("launcher-pod.yaml")) {
            let object = try #require(document as? [String: Any])
            let kind = try #require(object["kind"] as? String)
            byKind[kind] = object
        }
        return byKind
    }

    @Test func podRunsTheLauncherWithTheLeastCapabilities() throws {
        let pod = try #require(try manifests()["Pod"])
        #expect(pod["apiVersion"] as? String == "v1")
        let spec = try #require(pod["spec"] as? [String: Any])
        let containers = try #require(spec["containers"] as? [[String: Any]])
        #expect(containers.count == 1, "one process: the launcher")
        let compute = containers[0]
        let command = try #require(compute["command"] as? [String])
        #expect(Array(command.prefix(2)) == ["/usr/local/bin/vmm", "launch"])
        let vmiIndex = try #require(command.firstIndex(of: "--vmi"))
        let vmiPath = command[vmiIndex + 1]

        let security = try #require(compute["securityContext"] as? [String: Any])
        #expect(security["privileged"] == nil || security["privileged"] as? Bool == false)
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        let capabilities = try #require(security["capabilities"] as? [String: Any])
        #expect(capabilities["drop"] as? [String] == ["ALL"])
        // Exactly the ones packaging/README.md explains, each of them documented there.
        let added = try #require(capabilities["add"] as? [String])
        #expect(Set(added) == ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"])
        let readme = try text("README.md")
        for capability in added { #expect(readme.contains("| `\(capability)` |"), "\(capability) documented") }

        let limits = try #require((compute["resources"] as? [String: Any])?["limits"] as? [String: Any])
        #expect(limits["devices.kubevirt.io/kvm"] as? String == "1")
        #expect(limits["devices.kubevirt.io/tun"] as? String == "1")

        // The VMI path is a mounted ConfigMap key.
        let mounts = try #require(compute["volumeMounts"] as? [[String: Any]])
        let vmiMount = try #require(mounts.first { vmiPath.hasPrefix(($0["mountPath"] as? String ?? "") + "/") })
        let volumes = try #require(spec["volumes"] as? [[String: Any]])
        let vmiVolume = try #require(volumes.first { $0["name"] as? String == vmiMount["name"] as? String })
        #expect((vmiVolume["configMap"] as? [String: Any])?["name"] as? String == "vmi-kernel-boot")
        // Every mount has its volume.
        for mount in mounts {
            #expect(volumes.contains { $0["name"] as? String == mount["name"] as? String }, "volume for \(mount)")
        }
        // The pod waits longer than the VMI's grace period, so the launcher's shutdown completes.
        #expect((spec["terminationGracePeriodSeconds"] as? Int ?? 0) > 30)
        let sysctls = try #require((spec["securityContext"] as? [String: Any])?["sysctls"] as? [[String: Any]])
        #expect(sysctls.contains { $0["name"] as? String == "net.ipv4.ip_forward" && $0["value"] as? String == "1" })
    }

    @Test func theConfigMapsVMIResolves() throws {
        let configMap = try #require(try manifests()["ConfigMap"])
        let data = try #require(configMap["data"] as? [String: Any])
        let vmi = try #require(data["vmi.yaml"] as? String)
        let resolved = try VMIResolver().resolve(text: vmi).configuration
        #expect(resolved.cpu.vcpus == 2)
        #expect(resolved.memoryBytes == 256 << 20)
        #expect(resolved.boot.kernelPath == "/var/run/kubevirt/container-disks/kernel-boot/vmlinuz-virt")
        #expect(resolved.interfaces.first?.binding == .masquerade)
        #expect(resolved.rng)
    }

    @Test func containerfileShipsOnlyTheBinaryAndItsNetworkTools() throws {
        let lines = try text("Containerfile").split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains(" AS build") == true)
        #expect(stages.last == "FROM docker.io/library/debian:12-slim")
        let runStage = lines.drop { $0 != stages.last }
        let installs = runStage.filter { $0.contains("apt-get install") }
        #expect(installs.count == 1)
        #expect(installs.first?.hasSuffix("--no-install-recommends iproute2 nftables \\") == true)
        #expect(runStage.contains("COPY --from=build /out/vmm /usr/local/bin/vmm"))
        #expect(runStage.filter { $0.hasPrefix("COPY") }.count == 1, "nothing but the binary is copied")
        #expect(runStage.contains(#"ENTRYPOINT ["/usr/local/bin/vmm", "launch"]"#))
        #expect(lines.contains { $0.contains("-Xswiftc -static-executable --product vmm") })
    }
}
