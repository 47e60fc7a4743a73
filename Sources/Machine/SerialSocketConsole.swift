// COM1 on a Unix socket, as `virtctl console` and `socat - UNIX-CONNECT:PATH` expect: the VMM listens
// at a path, one client at a time (a new connection replaces the old one); what the client sends
// reaches the guest through the UART's receive buffer (with the same back-pressure as stdin), and
// what the guest prints is copied to the client. Socket reads happen on the event loop; output is a
// non-blocking send from the transmitting vCPU thread, and bytes a stalled client cannot take are
// counted and reported, never waited for.
import Glibc
import KVMCore
import Logging
import Synchronization

public final class SerialSocketConsole: Sendable {
    public let path: String
    private let listener: Int32
    private let serial: SerialPort
    private let loop: EventLoop
    private let logger: Logger
    private struct Client { var fd: Int32 = -1; var watching = false; var undelivered: UInt64 = 0 }
    private let client = Mutex(Client())

    /// Binds and listens at `path` (a stale socket file there is replaced; any other file is not).
    public init(path: String, serial: SerialPort, loop: EventLoop, logger: Logger) throws(KVMError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw KVMError.invalidArgument(.epoll, "socket path must be 1...\(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw KVMError.system(.epoll, errno: .init(rawValue: errno)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let e = errno
            close(fd)
            throw KVMError.system(.epoll, errno: .init(rawValue: e))
        }
        self.path = path
        listener = fd
        self.serial = serial
        self.loop = loop
        self.logger = logger
    }

    deinit {
        let c = client.withLock { $0.fd }
        if c >= 0 { close(c) }
        close(listener)
        unlink(path)
    }

    /// Starts accepting clients on the event loop.
    public func start() throws(KVMError) {
        serial.onReceiveSpace { [weak self] in self?.resumeInput() }
        try loop.add(listener) { [weak self] in self?.acceptClient() }
    }

    /// Copies guest output to the connected client, if any (called on the transmitting vCPU thread).
    public func send(_ byte: UInt8) {
        client.withLock { c in
            guard c.fd >= 0 else { return }
            var b = byte
            if Glibc.send(c.fd, &b, 1, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) != 1 {
                if c.undelivered == 0 { logger.warning("console client is not reading: output to it is being dropped") }
                c.undelivered &+= 1
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
            guard c.fd >= 0, !c.watching else { return }
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
        let room = serial.receiveRoom
        guard room > 0 else {   // back-pressure: wait for the guest to drain the UART
            client.withLock { c in if c.fd == fd && c.watching { loop.remove(fd); c.watching = false } }
            return
        }
        var buffer = [UInt8](repeating: 0, count: min(room, 4096))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            serial.receive(buffer[0..<n])
        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
            disconnect()
        }
    }

    private func disconnect() {
        client.withLock { c in
            guard c.fd >= 0 else { return }
            if c.watching { loop.remove(c.fd) }
            if c.undelivered > 0 { logger.warning("console client missed \(c.undelivered) bytes of output") }
            close(c.fd)
            c = Client()
        }
    }
}
