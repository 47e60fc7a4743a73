// The meta-data KubeVirt writes beside user data (pkg/cloud-init), byte for byte where it matters:
// - NoCloud `meta-data`: JSON (which cloud-init reads as YAML) with `instance-id` = the VMI's
//   firmware UUID and `local-hostname` = spec.hostname, else the VMI name up to its first dot, cut
//   to 63 characters; `instance-type` and `public-keys` only when set.
// - ConfigDrive `openstack/latest/meta_data.json`: `instance_id` = "<name>.<namespace>", `uuid` =
//   the firmware UUID, `hostname`, each also under the legacy dashed key KubeVirt adds.
// Key order and string escaping follow Go's encoding/json, so diffs against KubeVirt stay empty.

/// Who the guest is, derived from the VMI as KubeVirt derives it.
public struct CloudInitIdentity: Sendable, Equatable {
    /// KubeVirt's namespace for the firmware UUID of a VM-created VMI (uuid.NewSHA1(ns, name)).
    public static let firmwareUUIDNamespace: [UInt8] = [
        0x6a, 0x1a, 0x24, 0xa1, 0x40, 0x61, 0x46, 0x07, 0x8b, 0xf4, 0xa3, 0x96, 0x3d, 0x0c, 0x58, 0x95,
    ]

    public var name: String
    public var namespace: String
    public var hostname: String
    /// The firmware UUID: NoCloud's instance-id and ConfigDrive's uuid.
    public var uuid: String
    public var instanceType: String?
    /// SSH keys propagated through the metadata (accessCredentials), keyed "0", "1", ...
    public var publicKeys: [String: String]

    /// - Parameters:
    ///   - specHostname: `spec.hostname`; when empty the VMI name up to the first dot is used.
    ///   - firmwareUUID: `spec.domain.firmware.uuid`. KubeVirt gives a bare VMI without one a random
    ///     UUID, which changes on every start and makes cloud-init run its first-boot modules again;
    ///     the launcher instead derives it from the name as KubeVirt does for VMs, so it is stable.
    public init(name: String, namespace: String, specHostname: String? = nil, firmwareUUID: String? = nil,
                instanceType: String? = nil, publicKeys: [String: String] = [:]) {
        self.name = name
        self.namespace = namespace
        if let specHostname, !specHostname.isEmpty {
            hostname = specHostname
        } else {
            hostname = String(String(name.split(separator: ".", omittingEmptySubsequences: false).first ?? "").prefix(63))
        }
        if let firmwareUUID, !firmwareUUID.isEmpty {
            uuid = firmwareUUID
        } else {
            uuid = Self.nameBasedUUID(namespace: Self.firmwareUUIDNamespace, name: name)
        }
        self.instanceType = instanceType
        self.publicKeys = publicKeys
    }

    /// RFC 4122 version 5 UUID (SHA-1 of namespace + name), lower-case, as Go's uuid.NewSHA1.
    public static func nameBasedUUID(namespace: [UInt8], name: String) -> String {
        var digest = Array(CloudInitSHA1.digest(namespace + Array(name.utf8)).prefix(16))
        digest[6] = digest[6] & 0x0F | 0x50
        digest[8] = digest[8] & 0x3F | 0x80
        let hex = digest.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }

    /// NoCloud `meta-data`.
    public var noCloudMetaData: [UInt8] {
        var json = GoJSONObject()
        json.add("instance-type", instanceType, omitEmpty: true)
        json.add("instance-id", uuid, omitEmpty: false)
        json.add("local-hostname", hostname, omitEmpty: true)
        json.addMap("public-keys", publicKeys)
        return json.bytes
    }

    /// ConfigDrive `openstack/latest/meta_data.json`: the legacy dashed keys first (an embedded struct
    /// in KubeVirt's MarshalJSON), then the OpenStack keys. local_hostname stays empty there.
    public var configDriveMetaData: [UInt8] {
        let instanceID = "\(name).\(namespace)"
        var json = GoJSONObject()
        json.add("instance-type", instanceType, omitEmpty: true)
        json.add("instance-id", instanceID, omitEmpty: false)
        json.add("instance_type", instanceType, omitEmpty: true)
        json.add("instance_id", instanceID, omitEmpty: false)
        json.add("hostname", hostname, omitEmpty: true)
        json.add("uuid", uuid, omitEmpty: true)
        json.addMap("public_keys", publicKeys)
        return json.bytes
    }
}

/// A JSON object written as Go's json.Marshal writes a struct: fields in declaration order, no spaces.
struct GoJSONObject {
    private var members: [String] = []

    mutating func add(_ key: String, _ value: String?, omitEmpty: Bool) {
        let text = value ?? ""
        if omitEmpty && text.isEmpty { return }
        members.append(Self.quoted(key) + ":" + Self.quoted(text))
    }

    /// A map field with `omitempty`: Go sorts map keys.
    mutating func addMap(_ key: String, _ map: [String: String]) {
        guard !map.isEmpty else { return }
        let body = map.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            .map { Self.quoted($0) + ":" + Self.quoted(map[$0]!) }
        members.append(Self.quoted(key) + ":{" + body.joined(separator: ",") + "}")
    }

    var bytes: [UInt8] { Array(("{" + members.joined(separator: ",") + "}").utf8) }

    /// Go's string encoding: \" \\ \n \r \t, other controls as \u00XX, and `<` `>` `&` U+2028 U+2029
    /// escaped too (Go's default HTML-safe output).
    static func quoted(_ text: String) -> String { JSONValue.quote(text, escapingHTML: true) }
}

/// SHA-1 (FIPS 180-4), only for the name-based UUID above: Glibc has no hash API and the launcher
/// avoids a crypto dependency for 16 bytes of non-secret identifier.
enum CloudInitSHA1 {
    static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var padded = message + [0x80]
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        padded += (0..<8).map { UInt8(truncatingIfNeeded: bitLength >> (56 - $0 * 8)) }
        var w = [UInt32](repeating: 0, count: 80)
        for block in stride(from: 0, to: padded.count, by: 64) {
            for i in 0..<16 {
                w[i] = (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(padded[block + i * 4 + $1]) }
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32) = switch i {
                case 0..<20: (b & c | ~b & d, 0x5A82_7999)
                case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (b & c | b & d | c & d, 0x8F1B_BCDC)
                default: (b ^ c ^ d, 0xCA62_C1D6)
                }
                let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d; h[4] = h[4] &+ e
        }
        return h.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - $0 * 8)) } }
    }
}
