// The built-in DHCPv4 server: a UDP socket on port 67 bound to the bridge (SO_BINDTODEVICE), so it
// hears only the guest's side, answering with DHCPLease's decisions by broadcast to port 68.
// Broadcast rather than unicast to the offered address: unicasting to a client without an address
// needs an ARP entry injected first, and RFC 2131 §4.1 lets a server broadcast when it cannot.
//
// Threading: the socket is non-blocking and `handleReadable()` drains it, so the server can sit on
// Machine's EventLoop (`loop.add(server.fileDescriptor) { server.handleReadable() }`) or, with
// `start()`, on its own named thread ("dhcp") blocked in poll(2) — never on the Swift concurrency
// pool. The socket belongs to the network namespace of the thread that created the server.
import CKVM
import Glibc
import Synchronization
import SystemPackage

public final class DHCPServer: Sendable {
    public let interface: InterfaceName
    private let socketFD: Int32
    private let stopFD: Int32
    private let lease: Mutex<DHCPLease>
    private let log: @Sendable (String) -> Void
    private let thread = Mutex<pthread_t?>(nil)
    private let badPackets = Atomic<Int>(0)

    public static let serverPort: UInt16 = 67
    public static let clientPort: UInt16 = 68

    /// Opens and binds the socket on `interface` (in the calling thread's namespace).
    public init(interface: InterfaceName, lease: DHCPLease,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws(PodNetworkError) {
        self.interface = interface
        self.lease = Mutex(lease)
        self.log = log
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { throw .system(.socket, errno: Errno(rawValue: Glibc.errno), detail: "DHCP") }
        func fail(_ op: PodNetworkOperation, _ e: Int32) -> PodNetworkError {
            close(s)
            return .system(op, errno: Errno(rawValue: e), detail: interface.rawValue)
        }
        var one: Int32 = 1
        for opt in [SO_REUSEADDR, SO_BROADCAST] {
            guard setsockopt(s, SOL_SOCKET, opt, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw fail(.setSocketOption, Glibc.errno)
            }
        }
        var r = ckvm_net_bind_to_device(s, interface.rawValue)
        guard r == 0 else { throw fail(.bindToDevice, -r) }
        r = ckvm_net_bind_ipv4(s, 0, Self.serverPort)
        guard r == 0 else { throw fail(.bind, -r) }
        let e = ckvm_eventfd(0, 0)
        guard e >= 0 else { throw fail(.poll, -e) }
        socketFD = s
        stopFD = e
    }

    deinit {
        stop()
        close(socketFD)
        close(stopFD)
    }

    /// The socket, for an event loop that calls `handleReadable()` when it is readable.
    public var fileDescriptor: Int32 { socketFD }

    public var currentLease: DHCPLease { lease.withLock { $0 } }
    public func updateLease(_ new: DHCPLease) { lease.withLock { $0 = new } }

    /// Reads and answers every datagram waiting on the socket; never blocks, never throws: a bad
    /// packet is counted and dropped.
    public func handleReadable() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let n = buffer.withUnsafeMutableBytes {
                unsafe recv(socketFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC))
            }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                if Glibc.errno != EAGAIN && Glibc.errno != EWOULDBLOCK {
                    log("dhcp: recv on \(interface): \(Errno(rawValue: Glibc.errno))")
                }
                return
            }
            // MSG_TRUNC reports the datagram's real length: one larger than the buffer is dropped.
            guard n <= buffer.count else { dropped("oversized datagram of \(n) bytes"); continue }
            handle(Array(buffer[0..<n]))
        }
    }

    private func handle(_ packet: [UInt8]) {
        let request: DHCPMessage
        do { request = try DHCPMessage.decode(packet) } catch { dropped("\(error)"); return }
        // Relayed requests cannot reach a server on the guest's own link; answering one would
        // mean sending to the relay's address.
        guard request.giaddr == .any else { dropped("relayed request"); return }
        guard let reply = lease.withLock({ $0.reply(to: request) }) else { return }
        let bytes = reply.encode()
        let sent = bytes.withUnsafeBytes {
            unsafe ckvm_net_sendto_ipv4(socketFD, $0.baseAddress, $0.count, IPv4Address.broadcast.value, Self.clientPort)
        }
        if sent < 0 {
            log("dhcp: send on \(interface): \(Errno(rawValue: Int32(-sent)))")
        } else {
            log("dhcp: \(request.options.messageType.map { "\($0)" } ?? "?") from \(request.clientMAC?.description ?? "?") -> \(reply.options.messageType.map { "\($0)" } ?? "?") \(reply.yiaddr)")
        }
    }

    /// Logs the first few bad packets and then every thousandth, so a flood cannot flood the log.
    private func dropped(_ why: String) {
        let count = badPackets.wrappingAdd(1, ordering: .relaxed).newValue
        if count <= 10 || count % 1000 == 0 { log("dhcp: dropped packet #\(count) on \(interface): \(why)") }
    }

    /// Serves on a dedicated thread named "dhcp" until `stop()`.
    public func start() throws(PodNetworkError) {
        try thread.withLock { (t: inout pthread_t?) throws(PodNetworkError) in
            guard t == nil else { return }
            let box = Unmanaged.passRetained(self)
            var tid = pthread_t()
            let r = pthread_create(&tid, nil, { raw in
                // Sound: `raw` is the DHCPServer retained just above, released here exactly once.
                let server = unsafe Unmanaged<DHCPServer>.fromOpaque(raw!).takeRetainedValue()
                _ = ckvm_set_thread_name("dhcp")
                server.serve()
                return nil
            }, box.toOpaque())
            guard r == 0 else {
                box.release()
                throw .system(.thread, errno: Errno(rawValue: r), detail: "dhcp")
            }
            t = tid
        }
    }

    private func serve() {
        var fds = [pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let r = fds.withUnsafeMutableBufferPointer { unsafe poll($0.baseAddress, 2, -1) }
            if r < 0 {
                if Glibc.errno == EINTR { continue }
                log("dhcp: poll: \(Errno(rawValue: Glibc.errno)); server stopped")
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 { handleReadable() }
        }
    }

    /// Stops the thread started by `start()` and waits for it; idempotent.
    public func stop() {
        guard let t = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) else { return }
        var one: UInt64 = 1
        _ = unsafe write(stopFD, &one, 8)
        pthread_join(t, nil)
    }
}
