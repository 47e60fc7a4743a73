// Helpers for the VMI parsing and mapping tests: fixture files, a resolver with a fake pod, and an
// edit that gives a sample a kernelBoot so the rest of its mapping can be checked exactly.
import Foundation
import PodIntegration
import Testing
import Yams

enum VMIFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let samples = directory.appendingPathComponent("vmi-samples")
    static let examples = directory.appendingPathComponent("kubevirt-examples")
    /// `shared/vmi-samples` beside the repository, when checked out.
    static let sharedSamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/vmi-samples").standardized

    static func yamlFiles(in dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    static func text(_ name: String, in dir: URL = samples) throws -> String {
        try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }
}

/// A pod where nothing is mounted, unless told: block devices and files are listed explicitly.
func fakePod(blockDevices: Set<String> = [], files: Set<String> = []) -> PodEnvironment {
    PodEnvironment(isBlockDevice: { blockDevices.contains($0) }, fileExists: { files.contains($0) })
}

enum Outcome {
    case resolved(LaunchConfiguration, notes: [String])
    case rejected(errors: [String], notes: [String])

    var configuration: LaunchConfiguration? {
        if case let .resolved(c, _) = self { return c } else { return nil }
    }
    var errors: [String] {
        if case let .rejected(e, _) = self { return e } else { return [] }
    }
    var notes: [String] {
        switch self {
        case let .resolved(_, n), let .rejected(_, n): n
        }
    }
}

func resolveVMI(_ text: String, environment: PodEnvironment = fakePod(),
                options: ResolveOptions = ResolveOptions()) -> Outcome {
    do {
        let r = try VMIResolver(environment: environment, options: options).resolve(text: text)
        return .resolved(r.configuration, notes: r.notes.map(\.description))
    } catch {
        return .rejected(errors: error.errors.map(\.description), notes: error.notes.map(\.description))
    }
}

/// The field paths of the errors (the part before the first ": ").
func errorPaths(_ outcome: Outcome) -> [String] {
    outcome.errors.map { String($0.prefix(while: { $0 != ":" })) }
}

/// Adds `firmware.kernelBoot` (an Alpine-style kernel image) to the VMI's domain, for a VMI or a
/// VirtualMachine's template, so a sample that needs firmware can be checked past that error.
func withKernelBoot(_ text: String, args: String = "console=ttyS0") throws -> String {
    guard var root = try Yams.compose(yaml: text) else { throw YamlEditError() }
    let kernelBoot: Node = [
        "kernelArgs": Node(args),
        "container": [
            "image": "registry:5000/kubevirt/alpine-ext-kernel-boot-demo:devel",
            "kernelPath": "/boot/vmlinuz-virt",
            "initrdPath": "/boot/initramfs-virt",
        ],
    ]
    let isVM = root["kind"]?.string == "VirtualMachine"
    var spec = (isVM ? root["spec"]?["template"]?["spec"] : root["spec"]) ?? [:]
    var domain = spec["domain"] ?? [:]
    var firmware = domain["firmware"] ?? [:]
    firmware["kernelBoot"] = kernelBoot
    domain["firmware"] = firmware
    spec["domain"] = domain
    if isVM {
        var vmSpec = root["spec"] ?? [:]
        var template = vmSpec["template"] ?? [:]
        template["spec"] = spec
        vmSpec["template"] = template
        root["spec"] = vmSpec
    } else {
        root["spec"] = spec
    }
    return try Yams.serialize(node: root)
}

struct YamlEditError: Error {}

extension LaunchConfiguration {
    func disk(_ name: String) -> LaunchDisk? { disks.first { $0.name == name } }
}
