// A console on a Unix socket, as `virtctl console` and `socat - UNIX-CONNECT:PATH` expect: the VMM
// listens at a path, one client at a time (a new connection replaces the old one); what the client
// sends reaches the guest through a console device's receive buffer (COM1's UART or the virtio
// console, with the same back-pressure as stdin), and what the guest prints is copied to the client.
// Socket reads happen on the event loop; output is a non-blocking send from whichever thread the
// device transmits on, and bytes a stalled client cannot take are counted and reported, never
// waited for.
import Glibc
import KVMCore
import Logging
import Synchronization
import SystemPackage

/// Setting up a host-side console failed: the call, the path it was for, and errno.
public enum ConsoleError: Error, Sendable, Equatable, CustomStringConvertible {
    case system(operation: String, path: String, errno: Errno)
    case invalidPath(String, reason: String)

    public var description: String {
        switch self {
        case let .system(operation, path, errno): "\(operation) '\(path)': \(errno)"
        case let .invalidPath(path, reason): "'\(path)': \(reason)"
        }
    }

    static func lastError(_ operation: String, _ path: String) -> ConsoleError {
        .system(operation: operation, path: path, errno: Errno(rawValue: Glibc.errno))
    }
}

public final class UnixSocketConsole: Sendable {
    public let path: String
    private let listener: Int32
    private let input: any ConsoleInputTarget
    /// Set by `start(on:)`: the console is bound at construction, served once the machine runs.
    private let loop = Mutex<EventLoop?>(nil)
    private let logger: Logger
    private struct Client { var fd: Int32 = -1; var watching = false; var undelivered: UInt64 = 0 }
    private let client = Mutex(Client())

    /// Binds and listens at `path` (a stale socket file there is replaced; any other file is not).
    public init(path: String, input: any ConsoleInputTarget, logger: Logger) throws(ConsoleError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw .invalidPath(path, reason: "a socket path must be 1...\(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .lastError("socket", path) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let error = ConsoleError.lastError("bind", path)
            close(fd)
            throw error
        }
        guard listen(fd, 1) == 0 else {
            let error = ConsoleError.lastError("listen", path)
            close(fd)
            throw error
        }
        self.path = path
        listener = fd
        self.input = input
        self.logger = logger
    }

    deinit {
        let c = client.withLock { $0.fd }
        if c >= 0 { close(c) }
        close(listener)
        unlink(path)
    }

    /// Starts accepting clients on `loop`.
    public func start(on loop: EventLoop) throws(KVMError) {
        self.loop.withLock { $0 = loop }
        input.onReceiveSpace { [weak self] in self?.resumeInput() }
        try loop.add(listener) { [weak self] in self?.acceptClient() }
    }

    private var eventLoop: EventLoop? { loop.withLock { $0 } }

    /// Copies guest output to the connected client, if any.
    public func send(_ byte: UInt8) { send([byte]) }

    /// Copies guest output to the connected client, if any, without blocking: what the client's
    /// socket buffer cannot take now is dropped and counted.
    public func send(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        client.withLock { c in
            guard c.fd >= 0 else { return }
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                if n > 0 { sent += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
            if sent < bytes.count {
                if c.undelivered == 0 { logger.warning("console client is not reading: output to it is being dropped") }
                c.undelivered &+= UInt64(bytes.count - sent)
            }
        }
    }

    private func acceptClient() {
        // accept4 is not in Swift's Glibc module: accept, then set the flags.
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        disconnect()   // one client at a time: the newest wins
        client.withLock { $0 = Client(fd: fd) }
        resumeInput()
    }

    private func resumeInput() {
        client.withLock { c in
            guard c.fd >= 0, !c.watching, let loop = eventLoop else { return }
            let fd = c.fd
            do {
                try loop.add(fd) { [weak self] in self?.readable(fd) }
                c.watching = true
            } catch {
                logger.warning("console client: \(error)")
            }
        }
    }

    private func readable(_ fd: Int32) {
        let room = input.receiveRoom
        guard room > 0 else {   // back-pressure: wait for the guest to drain the device
            client.withLock { c in if c.fd == fd && c.watching { eventLoop?.remove(fd); c.watching = false } }
            // The guest may have drained it between the check and the removal: look again.
            if input.receiveRoom > 0 { resumeInput() }
            return
        }
        var buffer = [UInt8](repeating: 0, count: min(room, 4096))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            input.receive(buffer[0..<n])
        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
            disconnect()
        }
    }

    private func disconnect() {
        client.withLock { c in
            guard c.fd >= 0 else { return }
            if c.watching { eventLoop?.remove(c.fd) }
            if c.undelivered > 0 { logger.warning("console client missed \(c.undelivered) bytes of output") }
            close(c.fd)
            c = Client()
        }
    }
}
