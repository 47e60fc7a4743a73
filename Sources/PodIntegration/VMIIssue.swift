// Problems found in a VirtualMachineInstance, each tied to the field path a user can find in their
// manifest (`spec.domain.devices.interfaces[1].sriov`), so one run reports all of them at once.

/// A dotted field path into the submitted document, rendered the way `kubectl explain` and
/// KubeVirt's admission webhook name fields: keys joined by dots, list positions in brackets.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public private(set) var description: String

    public init(_ text: String = "") { description = text }

    public static let root = FieldPath()

    public func key(_ name: String) -> FieldPath {
        FieldPath(description.isEmpty ? name : description + "." + name)
    }

    public func index(_ i: Int) -> FieldPath { FieldPath(description + "[\(i)]") }

    /// Shorthand for a chain of keys: `path.keys("domain", "cpu")`.
    public func keys(_ names: String...) -> FieldPath { names.reduce(self) { $0.key($1) } }
}

/// One problem (or, as a note, one thing changed or ignored) at a field.
public struct VMIIssue: Sendable, Hashable, CustomStringConvertible {
    public var path: FieldPath
    public var message: String
    public init(_ path: FieldPath, _ message: String) { self.path = path; self.message = message }
    /// `field.path: why`, the field first so a reader (or grep) finds it at once.
    public var description: String {
        path.description.isEmpty ? "(document): \(message)" : "\(path): \(message)"
    }
}

/// Collects every error and note of one run instead of stopping at the first.
public struct VMIIssues: Sendable {
    public private(set) var errors: [VMIIssue] = []
    /// Things the launcher changed (rounded up, defaulted) or ignored because they do not change
    /// what the guest sees here; printed to stderr by `--dry-run`, never fatal.
    public private(set) var notes: [VMIIssue] = []

    public init() {}

    public mutating func error(_ path: FieldPath, _ message: String) { errors.append(VMIIssue(path, message)) }
    public mutating func note(_ path: FieldPath, _ message: String) { notes.append(VMIIssue(path, message)) }
    public var hasErrors: Bool { !errors.isEmpty }
}

/// Why a VMI cannot be launched: every error found, plus the notes gathered on the way.
public struct VMIRejected: Error, Sendable, CustomStringConvertible {
    public var errors: [VMIIssue]
    public var notes: [VMIIssue]
    public init(errors: [VMIIssue], notes: [VMIIssue] = []) { self.errors = errors; self.notes = notes }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
