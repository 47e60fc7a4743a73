// The real `vmm launch` binary: --vmi FILE, --vmi - on stdin, STANDALONE_VMI, exit statuses and
// the JSON it prints.
import Foundation
import Testing

struct LaunchBinaryMissing: Error, CustomStringConvertible { let description: String }

struct LaunchRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The vmm executable built next to this test bundle (`swift build --build-tests` builds it).
func launchVMMPath() throws -> String {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    let path = dir.appendingPathComponent("vmm").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw LaunchBinaryMissing(description: "vmm binary not found at \(path): run `swift build --build-tests` first")
    }
    return path
}

func runLaunch(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> LaunchRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try launchVMMPath())
    process.arguments = ["launch"] + arguments
    var env = ProcessInfo.processInfo.environment
    env["STANDALONE_VMI"] = nil
    env.merge(environment) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return LaunchRun(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
}

func parseJSON(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite struct LaunchBinaryTests {
    static let kernelBoot = VMIFixtures.samples.appendingPathComponent("vmi-kernel-boot.yaml").path

    @Test func dryRunFromFilePrintsJSON() throws {
        let r = try runLaunch(["--vmi", Self.kernelBoot, "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try parseJSON(r.stdout)
        #expect(json["name"] as? String == "vmi-kernel-boot")
        #expect(json["memoryBytes"] as? Int == 1 << 30)
        let boot = try #require(json["boot"] as? [String: Any])
        #expect(boot["kernel"] as? String == "/var/run/kubevirt/container-disks/kernel-boot/vmlinuz-virt")
        #expect(boot["initrd"] as? String == "/var/run/kubevirt/container-disks/kernel-boot/initramfs-virt")
        #expect(boot["commandLine"] as? String == "console=ttyS0")
        let cpu = try #require(json["cpu"] as? [String: Any])
        #expect(cpu["vcpus"] as? Int == 1)
        #expect(r.stderr.contains("note: "))
    }

    @Test func dryRunFromStdinWithDisksAndNICs() throws {
        let text = try withKernelBoot(VMIFixtures.text("vmi-masquerade.yaml"))
        let r = try runLaunch(["--vmi", "-", "--dry-run"], stdin: text)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try parseJSON(r.stdout)
        let disks = try #require(json["disks"] as? [[String: Any]])
        #expect(disks.map { $0["hostPath"] as? String } == [
            "/var/run/kubevirt/container-disks/disk_0.img",
            "/var/run/kubevirt-ephemeral-disks/cloud-init-data/default/vmi-masquerade/noCloud.iso",
        ])
        #expect(disks.first?["overlay"] as? String == "/var/run/kubevirt-ephemeral-disks/disk-data/containerdisk/disk.overlay")
        let nics = try #require(json["interfaces"] as? [[String: Any]])
        #expect(nics.first?["binding"] as? String == "masquerade")
        #expect(nics.first?["guestAddress"] as? String == "10.0.2.2/24")
        #expect(nics.first?["gateway"] as? String == "10.0.2.1")
        #expect(nics.first?["tap"] as? String == "tap0")
        #expect(json["rng"] as? Bool == true)
    }

    @Test func standaloneVMIVariableWithErrorsExits64() throws {
        let r = try runLaunch(["--dry-run"], environment: ["STANDALONE_VMI": try VMIFixtures.text("vmi-sriov.yaml")])
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
        #expect(lines.map { $0.prefix(while: { $0 != ":" }) } == [
            "spec.domain.firmware.kernelBoot", "spec.networks[1].multus", "spec.domain.devices.interfaces[1].sriov",
        ])
    }

    @Test func standaloneVMIVariableResolves() throws {
        let r = try runLaunch(["--dry-run"], environment: ["STANDALONE_VMI": try VMIFixtures.text("vmi-kernel-boot.yaml")])
        #expect(r.status == 0)
        #expect(try parseJSON(r.stdout)["name"] as? String == "vmi-kernel-boot")
    }

    @Test func blockVolumeFlag() throws {
        let text = try withKernelBoot(VMIFixtures.text("vmi-pvc.yaml"))
        let r = try runLaunch(["--vmi", "-", "--dry-run", "--block-volume", "pvcdisk"], stdin: text)
        let disks = try #require(try parseJSON(r.stdout)["disks"] as? [[String: Any]])
        #expect(disks.first?["hostPath"] as? String == "/dev/pvcdisk")
        #expect(disks.first?["mode"] as? String == "block")
    }

    @Test func inputProblems() throws {
        let none = try runLaunch(["--dry-run"])
        #expect(none.status == 64)
        #expect(none.stderr.contains("pass --vmi FILE (- for stdin) or set STANDALONE_VMI"))
        let missing = try runLaunch(["--vmi", "/nonexistent/vmi.yaml", "--dry-run"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("--vmi: cannot read '/nonexistent/vmi.yaml'"))
        let shutdown = try runLaunch(["--vmi", Self.kernelBoot, "--dry-run", "--shutdown", "reset"])
        #expect(shutdown.status == 64)
        #expect(shutdown.stderr.contains("--shutdown: expected one of auto, acpi-power-button, ctrl-alt-del, got 'reset'"),
                "\(shutdown.stderr)")
        #expect(try runLaunch(["--vmi", Self.kernelBoot, "--dry-run", "--shutdown", "ctrl-alt-del"]).status == 0)
    }

    /// A VMI whose kernel is not in the pod fails before anything is created (the kernel is read
    /// first, the network set up last): exit status 1, phase Failed naming the field.
    @Test func aMissingKernelFailsBeforeTouchingThePod() throws {
        let status = FileManager.default.temporaryDirectory.appendingPathComponent("launch-status-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: status) }
        let r = try runLaunch(["--vmi", Self.kernelBoot, "--status-file", status.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("spec.domain.firmware.kernelBoot.kernelPath"), "\(r.stderr)")
        let text = try String(contentsOf: status, encoding: .utf8)
        #expect(text.contains("\"phase\": \"Failed\""))
        #expect(text.contains("kernelBoot.kernelPath"))
    }
}
