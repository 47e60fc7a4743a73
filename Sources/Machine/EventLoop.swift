// The device event loop: one named thread ("event-loop") waiting in epoll for file descriptors the
// devices care about (console input, ioeventfds, tap devices, timers) and running their handlers.
// vCPU threads never do this I/O; interrupts go back to the guest through irqfds.
import CKVM
import Glibc
import KVMCore
import Synchronization

public final class EventLoop: Sendable {
    public typealias Handler = @Sendable () -> Void

    private let epoll: Int32
    private let wake: EventFD
    private let handlers = Mutex<[Int32: Handler]>([:])
    /// Descriptors with a handler that are out of the epoll set for now (see `setWatching`).
    private let paused = Mutex<Set<Int32>>([])
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<VCPUThread?>(nil)

    public init() throws(KVMError) {
        let fd = ckvm_epoll_create()
        guard fd >= 0 else { throw KVMError.system(.epoll, errno: .init(rawValue: -fd)) }
        epoll = fd
        wake = try EventFD()
        do { try add(wake.fileDescriptor.rawValue) { } } catch { close(fd); throw error }
    }

    deinit { close(epoll) }

    /// Calls `handler` on the loop thread whenever `fd` is readable (level-triggered: a handler that
    /// leaves data unread is called again).
    public func add(_ fd: Int32, handler: @escaping Handler) throws(KVMError) {
        handlers.withLock { $0[fd] = handler }
        let r = ckvm_epoll_add(epoll, fd)
        if r < 0 {
            handlers.withLock { _ = $0.removeValue(forKey: fd) }
            throw KVMError.system(.epoll, errno: .init(rawValue: -r))
        }
    }

    /// Stops watching `fd` (its handler is not called again once this returns on the loop thread).
    public func remove(_ fd: Int32) {
        paused.withLock { _ = $0.remove(fd) }
        _ = ckvm_epoll_del(epoll, fd)
        handlers.withLock { _ = $0.removeValue(forKey: fd) }
    }

    /// Pauses (false) or resumes (true) calling `fd`'s handler, keeping the handler: back-pressure
    /// for a device whose guest has no room, which a level-triggered epoll would otherwise turn into
    /// a busy loop on the unread descriptor. Pausing takes the fd out of the epoll set rather than
    /// clearing its event mask, because epoll reports EPOLLHUP/EPOLLERR whatever the mask says. Safe
    /// from any thread; the lock orders concurrent switches. A handler already picked by the running
    /// epoll_wait may still run once after a pause.
    public func setWatching(_ fd: Int32, _ on: Bool) throws(KVMError) {
        try paused.withLock { (set: inout Set<Int32>) throws(KVMError) in
            guard handlers.withLock({ $0[fd] != nil }), set.contains(fd) == on else { return }
            let r = on ? ckvm_epoll_add(epoll, fd) : ckvm_epoll_del(epoll, fd)
            guard r >= 0 else { throw KVMError.system(.epoll, errno: .init(rawValue: -r)) }
            if on { set.remove(fd) } else { set.insert(fd) }
        }
    }

    /// Starts the loop thread.
    public func start() -> Int32 {
        let t = VCPUThread(name: "event-loop") { [self] in loop() }
        let r = t.start()
        if r == 0 { thread.withLock { $0 = t } }
        return r
    }

    /// Ends the loop thread and waits for it.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        try? wake.signal()
        let t = thread.withLock { t -> VCPUThread? in defer { t = nil }; return t }
        t?.join()
    }

    private func loop() {
        var ready = [Int32](repeating: -1, count: 16)
        while !stopping.load(ordering: .acquiring) {
            let n = ready.withUnsafeMutableBufferPointer { ckvm_epoll_wait(epoll, $0.baseAddress, Int32($0.count), -1) }
            if n == -EINTR { continue }
            if n < 0 { return }
            for i in 0..<Int(n) {
                let fd = ready[i]
                if fd == wake.fileDescriptor.rawValue { _ = try? wake.consume(); continue }
                handlers.withLock { $0[fd] }?()
            }
        }
    }
}
