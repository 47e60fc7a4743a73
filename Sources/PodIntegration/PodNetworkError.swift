// Errors of the pod network setup: every kernel failure carries the operation and its errno, every
// failed command its argument vector and what it printed.
import SystemPackage

/// What the pod network was doing when a system call failed.
public enum PodNetworkOperation: String, Sendable, CustomStringConvertible {
    case openTun = "open /dev/net/tun"
    case tunSetIff = "TUNSETIFF"
    case tunSetPersist = "TUNSETPERSIST"
    case tunSetOwner = "TUNSETOWNER/TUNSETGROUP"
    case socket = "socket"
    case interfaceQuery = "SIOCGIF*"
    case interfaceIndex = "if_nametoindex"
    case bindToDevice = "setsockopt(SO_BINDTODEVICE)"
    case setSocketOption = "setsockopt"
    case bind = "bind"
    case send = "sendto"
    case receive = "recv"
    case poll = "poll"
    case pipe = "pipe2"
    case spawn = "posix_spawn"
    case wait = "waitpid"
    case readFile = "read file"
    case writeSysctl = "write sysctl"
    case setns = "setns(CLONE_NEWNET)"
    case thread = "pthread_create"

    public var description: String { rawValue }
}

public enum PodNetworkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; `detail` names the object (interface, path) when there is one.
    case system(PodNetworkOperation, errno: Errno, detail: String)
    /// A helper (`ip`, `nft`) exited non-zero or was killed.
    case commandFailed(arguments: [String], status: Int32, output: String)
    /// The pod interface lacks what the binding needs (an IPv4 address, a usable netmask, ...).
    case podInterface(InterfaceName, String)
    /// The configuration asks for something the setup refuses before touching the system.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .system(op, e, detail):
            "\(op)\(detail.isEmpty ? "" : " (\(detail))") failed: \(e) (errno \(e.rawValue))"
        case let .commandFailed(args, status, output):
            "\(args.joined(separator: " ")) exited with \(status): \(output.prefix(2000))"
        case let .podInterface(name, why): "pod interface \(name): \(why)"
        case let .invalidConfiguration(why): "invalid pod network configuration: \(why)"
        }
    }

    /// The errno of a failed system call, if that is what this error is.
    public var errno: Errno? {
        if case let .system(_, e, _) = self { return e }
        return nil
    }
}
