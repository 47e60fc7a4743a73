// The pod's DNS settings, read from its resolv.conf (written by the kubelet) so the guest resolves
// names as the pod does. Parsed as glibc's resolver reads it: `nameserver` lines add servers, the
// last `search` or `domain` line sets the search list, `#`/`;` start comments, unknown lines are
// ignored. Bounded: the file is read up to 64 KiB and the lists capped.
import Glibc
import SystemPackage

public struct ResolvConf: Equatable, Sendable {
    public var nameservers: [IPv4Address] = []
    /// IPv6 servers are kept as text for a future DHCPv6 server; DHCPv4 cannot carry them.
    public var ipv6Nameservers: [String] = []
    public var searchDomains: [String] = []

    public init(nameservers: [IPv4Address] = [], searchDomains: [String] = []) {
        self.nameservers = nameservers
        self.searchDomains = searchDomains
    }

    /// glibc reads 3 servers (MAXNS); more are accepted here up to a sane bound.
    static let maxNameservers = 8
    static let maxSearchDomains = 32

    public static func parse(_ text: String) -> ResolvConf {
        var r = ResolvConf()
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.prefix { $0 != "#" && $0 != ";" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let key = words.first else { continue }
            switch key {
            case "nameserver":
                guard words.count >= 2 else { continue }
                if let a = IPv4Address(words[1]) {
                    if r.nameservers.count < maxNameservers && !r.nameservers.contains(a) { r.nameservers.append(a) }
                } else if words[1].contains(":"), r.ipv6Nameservers.count < maxNameservers {
                    r.ipv6Nameservers.append(String(words[1]))
                }
            case "search", "domain":
                // Only names DHCP can carry; a `domain` line is a one-entry search list.
                let names = words.dropFirst().map(String.init).filter { DNSNameEncoding.encode($0) != nil }
                r.searchDomains = Array((key == "domain" ? Array(names.prefix(1)) : names).prefix(maxSearchDomains))
            default:
                continue
            }
        }
        return r
    }

    /// Reads and parses `path`.
    public static func read(path: String = "/etc/resolv.conf") throws(PodNetworkError) -> ResolvConf {
        parse(try readTextFile(path, limit: 65536))
    }
}

/// The first `limit` bytes of a file as text (invalid UTF-8 repaired, never trapped on).
func readTextFile(_ path: String, limit: Int) throws(PodNetworkError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(.readFile, errno: Errno(rawValue: Glibc.errno), detail: path) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
        let n = buffer.withUnsafeMutableBytes { unsafe Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && Glibc.errno == EINTR { continue }
        if n < 0 { throw .system(.readFile, errno: Errno(rawValue: Glibc.errno), detail: path) }
        if n == 0 { break }
        bytes += buffer[0..<min(n, limit - bytes.count)]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `value` to a file that exists (sysctls under /proc/sys).
func writeSysctl(_ path: String, _ value: String) throws(PodNetworkError) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(.writeSysctl, errno: Errno(rawValue: Glibc.errno), detail: path) }
    defer { close(fd) }
    let bytes = Array(value.utf8)
    let n = bytes.withUnsafeBytes { unsafe write(fd, $0.baseAddress, $0.count) }
    guard n == bytes.count else { throw .system(.writeSysctl, errno: Errno(rawValue: Glibc.errno), detail: path) }
}
