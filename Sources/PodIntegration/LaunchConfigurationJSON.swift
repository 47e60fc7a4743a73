// `vmm launch --dry-run` output: the resolved configuration as JSON, keys in a fixed order so the
// output diffs well. A tiny encoder instead of Foundation's JSONEncoder keeps the launcher lean.

/// A JSON value with ordered object keys.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered() == b.rendered() }

    /// Pretty-printed with two-space indentation.
    public func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent + 2), end = String(repeating: " ", count: indent)
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .uint(u): return String(u)
        case let .string(s): return JSONValue.quote(s)
        case let .array(items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { pad + $0.rendered(indent: indent + 2) }.joined(separator: ",\n") + "\n\(end)]"
        case let .object(pairs):
            if pairs.isEmpty { return "{}" }
            return "{\n" + pairs.map { pad + JSONValue.quote($0.0) + ": " + $0.1.rendered(indent: indent + 2) }
                .joined(separator: ",\n") + "\n\(end)}"
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters. `escapingHTML` also
    /// escapes `<` `>` `&` U+2028 U+2029 as \u00XX, as Go's encoding/json does by default.
    static func quote(_ s: String, escapingHTML: Bool = false) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || (escapingHTML && "<>&\u{2028}\u{2029}".unicodeScalars.contains(c)):
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Optional where Wrapped == String {
    var json: JSONValue { map(JSONValue.string) ?? .null }
}

extension LaunchConfiguration {
    public var json: JSONValue {
        .object([
            ("name", .string(name)),
            ("namespace", .string(namespace)),
            ("uid", uid.json),
            ("hostname", .string(hostname)),
            ("firmwareUUID", firmwareUUID.json),
            ("cpu", .object([
                ("vcpus", .int(Int64(cpu.vcpus))),
                ("sockets", .int(Int64(cpu.sockets))),
                ("cores", .int(Int64(cpu.cores))),
                ("threads", .int(Int64(cpu.threads))),
                ("source", .string(cpu.source.rawValue)),
            ])),
            ("memoryBytes", .uint(memoryBytes)),
            ("boot", .object([
                ("image", boot.image.json),
                ("kernel", .string(boot.kernelPath)),
                ("initrd", boot.initrdPath.json),
                ("commandLine", .string(boot.commandLine)),
            ])),
            ("disks", .array(disks.map(\.json))),
            ("interfaces", .array(interfaces.map(\.json))),
            ("console", .object([
                ("serialSocket", console.serialSocketPath.json),
                ("virtioConsoleSocket", console.virtioConsoleSocketPath.json),
                ("serialToStdout", .bool(console.serialToStdout)),
            ])),
            ("rng", .bool(rng)),
            ("terminationGracePeriodSeconds", .int(terminationGracePeriodSeconds)),
        ])
    }
}

extension LaunchDisk {
    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("name", .string(name)),
            ("volume", .string(volumeName)),
            ("source", .string(source)),
            ("hostPath", .string(hostPath)),
            ("mode", .string(mode.rawValue)),
            ("format", .string(format)),
            ("readOnly", .bool(readOnly)),
            ("serial", .string(serial)),
            ("bootOrder", bootOrder.map(JSONValue.int) ?? .null),
            ("overlay", overlayPath.json),
        ]
        switch preparation {
        case .none: pairs.append(("create", .null))
        case let .createSparse(bytes): pairs.append(("create", .object([("sparseBytes", .uint(bytes))])))
        case let .cloudInitISO(image):
            pairs.append(("create", .object([("cloudInit", image.json)])))
        }
        return .object(pairs)
    }
}

extension CloudInitImage {
    var json: JSONValue {
        func payload(_ p: Payload?) -> JSONValue {
            switch p {
            case nil: .null
            case let .bytes(data)?: .object([("bytes", .int(Int64(data.count)))])
            case let .secretFile(path)?: .object([("secretFile", .string(path))])
            }
        }
        return .object([
            ("dataSource", .string(dataSource.rawValue)),
            ("volumeLabel", .string(dataSource.volumeLabel)),
            ("userData", payload(userData)),
            ("networkData", payload(networkData)),
        ])
    }
}

extension LaunchInterface {
    var json: JSONValue {
        .object([
            ("name", .string(name)),
            ("network", .string(network)),
            ("binding", .string(binding.rawValue)),
            ("model", .string(model)),
            ("macAddress", .string(macAddress)),
            ("macGenerated", .bool(macGenerated)),
            ("podInterface", .string(podInterface)),
            ("tap", .string(tapName)),
            ("bridge", .string(bridgeName)),
            ("guestAddress", guestAddress.map { .string("\($0)/\(prefixLength ?? 0)") } ?? .null),
            ("gateway", gatewayAddress.json),
            ("ports", .array(ports.map { p in
                .object([("name", p.name.json), ("protocol", .string(p.proto)), ("port", .int(Int64(p.port)))])
            })),
        ])
    }
}
