// Typed, path-aware reads from a Yams node tree. A wrong type becomes an error at its field path and
// the field reads as absent, so parsing always continues and one run reports every problem.
// JSON input is YAML (flow style), so the same reader serves both.
import Yams

/// An object (YAML mapping) at a known path. A missing or `null` object reads as empty, as Go's
/// JSON decoding into a nil pointer does: Kubernetes treats `field: null` as not set.
struct ObjectReader {
    let mapping: Node.Mapping?
    let path: FieldPath

    /// Reads `node` as an object; anything else is an error at `path` and reads as empty.
    init(_ node: Node?, at path: FieldPath, _ issues: inout VMIIssues) {
        self.path = path
        switch node {
        case let .mapping(m)?: mapping = m
        case nil: mapping = nil
        case let .scalar(s)? where ObjectReader.isNull(s): mapping = nil
        case .alias?:
            issues.error(path, "YAML aliases are not supported; write the value out")
            mapping = nil
        case let other?:
            issues.error(path, "expected an object, got \(ObjectReader.kind(other))")
            mapping = nil
        }
    }

    /// The value at `key`, with `null` treated as absent.
    func node(_ key: String) -> Node? {
        guard let value = mapping?[key] else { return nil }
        if case let .scalar(s) = value, ObjectReader.isNull(s) { return nil }
        return value
    }

    /// Whether `key` is set to something other than null (`sriov: {}` counts as set).
    func has(_ key: String) -> Bool { node(key) != nil }

    /// Keys set (non-null), in document order.
    var presentKeys: [String] {
        guard let mapping else { return [] }
        return mapping.compactMap { pair in
            if case let .scalar(s) = pair.value, ObjectReader.isNull(s) { return nil }
            return pair.key.scalar?.string
        }
    }

    func object(_ key: String, _ issues: inout VMIIssues) -> ObjectReader {
        ObjectReader(node(key), at: path.key(key), &issues)
    }

    /// A scalar read as text. Numbers and booleans are accepted as their text (YAML leaves plain
    /// scalars untyped); objects and lists are errors.
    func string(_ key: String, _ issues: inout VMIIssues) -> String? {
        guard let value = node(key) else { return nil }
        guard case let .scalar(s) = value else {
            issues.error(path.key(key), "expected a string, got \(ObjectReader.kind(value))")
            return nil
        }
        return s.string
    }

    /// A whole number in `range`; text that is not one is an error naming the field and the range.
    func integer(_ key: String, in range: ClosedRange<Int64>, _ issues: inout VMIIssues) -> Int64? {
        guard let value = node(key) else { return nil }
        guard case let .scalar(s) = value, let n = Int64(s.string.trimmingSpaces) else {
            issues.error(path.key(key), "expected a whole number in \(range.lowerBound)...\(range.upperBound), got \(ObjectReader.describe(value))")
            return nil
        }
        guard range.contains(n) else {
            issues.error(path.key(key), "\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return n
    }

    func bool(_ key: String, _ issues: inout VMIIssues) -> Bool? {
        guard let value = node(key) else { return nil }
        if case let .scalar(s) = value {
            switch s.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        issues.error(path.key(key), "expected true or false, got \(ObjectReader.describe(value))")
        return nil
    }

    /// A Kubernetes quantity; the text is kept so messages can quote what the user wrote.
    func quantity(_ key: String, _ issues: inout VMIIssues) -> LocatedQuantity? {
        guard let value = node(key) else { return nil }
        guard case let .scalar(s) = value else {
            issues.error(path.key(key), "expected a quantity such as 128Mi or 2, got \(ObjectReader.kind(value))")
            return nil
        }
        do {
            return LocatedQuantity(quantity: try Quantity(parsing: s.string), path: path.key(key))
        } catch {
            issues.error(path.key(key), "\(error)")
            return nil
        }
    }

    /// The elements of a list with their paths; a non-list is an error and reads as empty.
    func list(_ key: String, _ issues: inout VMIIssues) -> [(node: Node, path: FieldPath)] {
        guard let value = node(key) else { return [] }
        guard case let .sequence(seq) = value else {
            issues.error(path.key(key), "expected a list, got \(ObjectReader.kind(value))")
            return []
        }
        return seq.enumerated().map { (node: $0.element, path: path.key(key).index($0.offset)) }
    }

    /// A map of strings (labels, resource lists); non-scalar values are errors.
    func stringMap(_ key: String, _ issues: inout VMIIssues) -> [(key: String, value: Node, path: FieldPath)] {
        let object = self.object(key, &issues)
        guard let mapping = object.mapping else { return [] }
        return mapping.compactMap { pair in
            guard let k = pair.key.scalar?.string else { return nil }
            return (key: k, value: pair.value, path: object.path.key(k))
        }
    }

    static func isNull(_ s: Node.Scalar) -> Bool {
        // Only plain scalars can be null: a quoted "null" is the string.
        (s.style == .plain || s.style == .any) && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "an object"
        case .sequence: "a list"
        case let .scalar(s): "'\(s.string.clipped)'"
        case .alias: "an alias"
        }
    }

    static func describe(_ node: Node) -> String { kind(node) }
}

/// A parsed quantity and where it came from.
public struct LocatedQuantity: Sendable {
    public var quantity: Quantity
    public var path: FieldPath
}

extension String {
    /// Without leading and trailing spaces (Foundation-free).
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    /// At most 40 characters, for quoting user input in one-line messages.
    var clipped: String {
        let flat = self.map { $0 == "\n" ? " " : $0 }
        return flat.count <= 40 ? String(flat) : String(flat.prefix(37)) + "..."
    }
}
