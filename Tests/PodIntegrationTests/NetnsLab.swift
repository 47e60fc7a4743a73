// A throwaway three-namespace network for the pod-network integration tests:
//   outside (ext0 192.168.77.1/24) ── veth ── pod (eth0 192.168.77.2/24, default via .1)
//   guest (g0) ── veth ── pod (gport, enslaved to the pod's bridge by the test)
// The guest stand-in is a veth on the bridge beside the tap: a tap's other end is a file
// descriptor, which cannot be moved into a namespace, so a veth plays the VMM's part.
// Everything is created inside the namespaces (`ip -n`), nothing in the host's, and deleting the
// namespaces removes it all.
import Foundation
import Glibc
import PodIntegration
import Testing

enum NetnsRequirements {
    /// Why the namespace tests cannot run here, or nil when they can.
    static let missing: String? = {
        if getuid() != 0 { return "not root" }
        if access("/dev/net/tun", R_OK | W_OK) != 0 { return "no /dev/net/tun" }
        for tool in ["ip", "nft", "busybox", "socat"] where HostCommand.locate(tool) == nil {
            return "\(tool) is not installed"
        }
        return nil
    }()
    static var canRun: Bool {
        if let why = missing { print("skipping pod network namespace tests: \(why)") }
        return missing == nil
    }
}

final class NetnsLab {
    let id = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    var pod: String { "pn-pod-\(id)" }
    var outside: String { "pn-out-\(id)" }
    var guest: String { "pn-guest-\(id)" }
    let dir: String
    var background: [pid_t] = []

    static let podAddress = "192.168.77.2"
    static let outsideAddress = "192.168.77.1"
    static let podMAC = "02:aa:bb:cc:dd:01"
    static let mtu = 1400

    init() throws {
        dir = NSTemporaryDirectory() + "podnet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            for ns in [pod, outside, guest] { try ip("netns", "add", ns) }
            try ip("-n", pod, "link", "add", "eth0", "mtu", "\(Self.mtu)", "address", Self.podMAC,
                   "type", "veth", "peer", "name", "ext0", "mtu", "\(Self.mtu)", "netns", outside)
            try ip("-n", outside, "addr", "add", "\(Self.outsideAddress)/24", "dev", "ext0")
            try ip("-n", outside, "link", "set", "ext0", "up")
            try ip("-n", outside, "link", "set", "lo", "up")
            try ip("-n", pod, "addr", "add", "\(Self.podAddress)/24", "dev", "eth0")
            try ip("-n", pod, "link", "set", "eth0", "up")
            try ip("-n", pod, "link", "set", "lo", "up")
            try ip("-n", pod, "route", "add", "default", "via", Self.outsideAddress)
            try ip("-n", guest, "link", "add", "g0", "mtu", "\(Self.mtu)", "type", "veth",
                   "peer", "name", "gport", "mtu", "\(Self.mtu)", "netns", pod)
            try ip("-n", guest, "link", "set", "lo", "up")
            try write("resolv.conf", "# test\nnameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\n")
        } catch {
            cleanup()
            throw error
        }
    }

    /// Deletes the namespaces (and with them every link inside) and stops background processes.
    func cleanup() {
        for pid in background {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        background = []
        for ns in [pod, outside, guest] { _ = try? ip("netns", "del", ns) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func ip(_ args: String...) throws -> String { try HostCommand("ip", args).run() }

    /// Runs a command inside namespace `ns`.
    @discardableResult
    func exec(_ ns: String, _ args: [String]) throws -> String {
        try HostCommand("ip", ["netns", "exec", ns] + args).run()
    }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode_t(mode))
    }

    /// Runs `body` in the pod namespace (on its own thread, see NetworkNamespace).
    func inPod<T: Sendable>(_ body: @escaping @Sendable () throws(PodNetworkError) -> T) throws -> T {
        try NetworkNamespace.run(path: "/var/run/netns/\(pod)", body)
    }

    /// Starts `args` in namespace `ns` in the background (our child, stdio on /dev/null, signals
    /// unblocked so SIGTERM works); cleanup() stops and reaps it.
    func spawn(_ ns: String, _ args: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = (["ip", "netns", "exec", ns] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, HostCommand.locate("ip")!, &actions, &attributes, argv, environ)
        guard r == 0 else { throw PodNetworkError.invalidConfiguration("posix_spawn: \(r)") }
        background.append(pid)
    }

    /// A TCP listener in `ns` on `port` that answers each connection with `tag` and the peer's
    /// address (what NAT made of the source).
    func listen(_ ns: String, port: Int, tag: String) throws {
        try spawn(ns, ["socat", "TCP-LISTEN:\(port),reuseaddr,fork", "SYSTEM:echo \(tag)-$SOCAT_PEERADDR"])
    }

    /// Connects from `ns` to `host:port` and returns the answer, retrying while the listener starts.
    func connect(_ ns: String, _ host: String, _ port: Int) throws -> String {
        var last: any Error = PodNetworkError.invalidConfiguration("no attempt")
        for _ in 0..<30 {
            do {
                let out = try exec(ns, ["socat", "-t", "3", "-T", "3", "-", "TCP:\(host):\(port),connect-timeout=2"])
                if !out.isEmpty { return out.trimmingCharacters(in: .whitespacesAndNewlines) }
            } catch { last = error }
            usleep(100_000)
        }
        throw last
    }

    /// Runs busybox udhcpc on g0 in the guest namespace and returns what its script was given
    /// (ip, subnet, router, dns, mtu, domain, search, ...).
    func dhcp() throws -> [String: String] {
        let leaseFile = "\(dir)/lease.env"
        try write("udhcpc.sh", """
            #!/bin/sh
            case "$1" in bound|renew) env > \(leaseFile) ;; esac
            exit 0

            """, mode: 0o755)
        try exec(guest, ["busybox", "udhcpc", "-i", "g0", "-f", "-q", "-n", "-t", "5", "-T", "1",
                         "-s", "\(dir)/udhcpc.sh"])
        let text = try String(contentsOfFile: leaseFile, encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return env
    }
}
