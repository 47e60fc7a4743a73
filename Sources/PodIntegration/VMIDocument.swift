// One submitted manifest: a VirtualMachineInstance, or a VirtualMachine whose `spec.template` is one.
// YAML and JSON are read the same way (JSON is YAML's flow style).
import Yams

public struct VMIDocument: Sendable {
    /// The object's kind as submitted.
    public var kind: String
    public var metadata: VMIMetadata
    public var spec: VMISpec

    /// The API versions KubeVirt serves VMIs under (v1alpha3 is still served as an alias).
    static let apiVersions = ["kubevirt.io/v1", "kubevirt.io/v1alpha3"]

    /// Parses `text`, collecting every problem into `issues`; nil when the text is not a single
    /// YAML/JSON object of a supported kind (the reason is in `issues`).
    public static func parse(_ text: String, _ issues: inout VMIIssues) -> VMIDocument? {
        let root: Node?
        do {
            var documents = try Yams.compose_all(yaml: text)
            var all: [Node] = []
            while let node = documents.next() { all.append(node) }
            if let error = documents.error { throw error }
            guard all.count <= 1 else {
                issues.error(.root, "has \(all.count) YAML documents: expected exactly one VirtualMachineInstance or VirtualMachine")
                return nil
            }
            root = all.first
        } catch {
            issues.error(.root, "not valid YAML or JSON: \(String(describing: error).split(separator: "\n").joined(separator: " ").clipped80)")
            return nil
        }
        guard let root else {
            issues.error(.root, "empty: expected a VirtualMachineInstance")
            return nil
        }
        guard case .mapping = root else {
            issues.error(.root, "expected an object (a VirtualMachineInstance), got \(ObjectReader.kind(root))")
            return nil
        }
        let object = ObjectReader(root, at: .root, &issues)
        let apiVersion = object.string("apiVersion", &issues)
        let kind = object.string("kind", &issues)
        switch apiVersion {
        case nil: issues.error(FieldPath("apiVersion"), "required: expected kubevirt.io/v1")
        case let v? where !apiVersions.contains(v):
            issues.error(FieldPath("apiVersion"), "'\(v.clipped)' is not supported: expected kubevirt.io/v1")
        default: break
        }
        let metadata = object.object("metadata", &issues)
        switch kind {
        case "VirtualMachineInstance":
            return VMIDocument(kind: "VirtualMachineInstance", metadata: VMIMetadata(metadata, &issues),
                               spec: VMISpec(object.object("spec", &issues), &issues))
        case "VirtualMachine":
            // The VMI a VirtualMachine starts is its template; the template usually has no name,
            // and KubeVirt then names the VMI after the VM (same namespace).
            let vmMeta = VMIMetadata(metadata, &issues)
            let spec = object.object("spec", &issues)
            guard spec.has("template") else {
                issues.error(spec.path.key("template"), "required: a VirtualMachine runs the VMI in its template")
                return nil
            }
            let template = spec.object("template", &issues)
            var meta = VMIMetadata(template.object("metadata", &issues), &issues)
            meta.name = meta.name ?? vmMeta.name
            meta.namespace = meta.namespace ?? vmMeta.namespace
            meta.uid = meta.uid ?? vmMeta.uid
            return VMIDocument(kind: "VirtualMachine", metadata: meta,
                               spec: VMISpec(template.object("spec", &issues), &issues))
        case nil:
            issues.error(FieldPath("kind"), "required: expected VirtualMachineInstance or VirtualMachine")
            return nil
        case let k?:
            issues.error(FieldPath("kind"), "'\(k.clipped)' is not supported: expected VirtualMachineInstance or VirtualMachine")
            return nil
        }
    }
}

extension VMIMetadata {
    init(_ metadata: ObjectReader, _ issues: inout VMIIssues) {
        name = metadata.string("name", &issues)
        namespace = metadata.string("namespace", &issues)
        uid = metadata.string("uid", &issues)
    }
}

extension String {
    /// At most 80 characters, for parser messages that quote a line of input.
    var clipped80: String { count <= 80 ? self : String(prefix(77)) + "..." }
}
