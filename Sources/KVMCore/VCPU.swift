// The vCPU handle: KVM_RUN with typed exits, and a kicker that other threads use to bring the vCPU
// out of a blocking KVM_RUN promptly (immediate_exit + a thread-directed signal).
import CKVM
import Glibc
import Synchronization
import SystemPackage

/// One virtual CPU. Owned and driven by one thread at a time (its vCPU thread): `run()` and the state
/// accessors are not meant to be called concurrently. Use `kicker` from other threads.
public final class VCPU: @unchecked Sendable {
    // @unchecked: the fd and run page are immutable references; calls that read or write the run page
    // are documented as owner-thread only, and the only cross-thread path (`kicker`) is atomic.
    public let id: UInt32
    let fd: FileDescriptor
    let runPage: VCPURunPage
    /// Lets any thread interrupt this vCPU's KVM_RUN.
    public let kicker: VCPUKicker
    /// The kernel VM lives as long as any of its vCPU fds: so must the VM object, whose slot table
    /// keeps guest RAM mapped. Without this, dropping the VM while a vCPU remains unmaps memory that
    /// KVM still maps into the guest.
    let vm: VirtualMachine

    init(fd: FileDescriptor, id: UInt32, mmapSize: Int, vm: VirtualMachine) throws(KVMError) {
        self.fd = fd
        self.id = id
        self.vm = vm
        runPage = try VCPURunPage(fd: fd, size: mmapSize)
        kicker = VCPUKicker(runPage: runPage)
    }

    deinit { try? fd.close() }

    /// The vCPU's file descriptor, for benchmarks and embedders that issue vCPU ioctls themselves
    /// (Benchmarks/ drives KVM_RUN from C on it as a baseline). The VCPU keeps ownership: never close
    /// it, and never use it while `run()` is in progress.
    public var rawFileDescriptor: Int32 { fd.rawValue }

    /// Enters the guest until the next exit. EINTR (a kick or any signal) is `.interrupted`, not an
    /// error; `immediate_exit` is cleared then, so the caller checks its own stop/pause flag (set
    /// before kicking) and calls `run()` again.
    public func run() throws(KVMError) -> VCPUExit {
        kicker.bindCurrentThread()
        defer { kicker.unbindCurrentThread() }
        let r = ckvm_ioctl_none(fd.rawValue, CKVM_RUN)
        if r < 0 {
            let e = Errno(rawValue: -r)
            if e == .interrupted || e == .resourceTemporarilyUnavailable {
                runPage.setImmediateExit(false)
                return .interrupted
            }
            throw KVMError.system(.run, errno: e)
        }
        return try unsafe parseExit(runPage.pointer, mapSize: runPage.size)
    }

    /// Answers an `.ioIn` exit: each of the `count` elements gets the low `size` bytes of `value`.
    public func completeIOIn(_ value: UInt32) {
        let io = unsafe runPage.pointer.pointee.io
        runPage.writeIOData(UInt64(value), size: Int(io.size), count: Int(io.count))
    }

    /// Answers an `.ioIn` string exit with raw bytes (truncated to size × count).
    public func completeIOIn(bytes: [UInt8]) { runPage.writeIOBytes(bytes) }

    /// All bytes of the last `.ioOut` exit (size × count), for string I/O.
    public func ioOutBytes() -> [UInt8] { runPage.readIOBytes() }

    /// Answers an `.mmioRead` exit with the low `length` bytes of `value`.
    public func completeMMIORead(_ value: UInt64) { runPage.writeMMIOData(value) }

    /// Requests an exit as soon as the guest can take an interrupt (KVM_EXIT_IRQ_WINDOW_OPEN).
    public func requestInterruptWindow(_ on: Bool) {
        unsafe runPage.pointer.pointee.request_interrupt_window = on ? 1 : 0
    }

    /// Whether the vCPU could take an injected interrupt at the last exit.
    public var readyForInterruptInjection: Bool { unsafe runPage.pointer.pointee.ready_for_interrupt_injection != 0 }
}

/// Brings a vCPU out of KVM_RUN from another thread. Protocol: set your own stop/pause flag first,
/// then `kick()`; the vCPU thread sees `.interrupted` and reads the flag. A kick that lands just
/// before KVM_RUN is not lost: `immediate_exit` makes the next KVM_RUN return at once.
public final class VCPUKicker: Sendable {
    /// The signal used for kicks (SIGRTMIN). Its handler is a no-op installed once per process.
    public static let signal: Int32 = ckvm_sigrtmin()
    private static let installed: Result<Void, KVMError> = {
        let r = ckvm_install_kick_handler(ckvm_sigrtmin())
        return r == 0 ? .success(()) : .failure(.system(.installSignalHandler, errno: Errno(rawValue: -r)))
    }()

    private let runPage: VCPURunPage
    /// The thread inside `run()`, nil outside it.
    private let thread = Mutex<pthread_t?>(nil)

    init(runPage: VCPURunPage) { self.runPage = runPage }

    func bindCurrentThread() {
        thread.withLock { $0 = pthread_self() }
        // A thread inherits its creator's signal mask, and threads spawned from Dispatch or Swift
        // concurrency threads start with every signal blocked: the kick would then stay pending and
        // never interrupt KVM_RUN. Unblock it once per thread (a thread-specific marker, not the
        // pthread_t, which glibc reuses for new threads).
        if pthread_getspecific(VCPUKicker.unblockedKey) == nil {
            VCPUKicker.unblockSignal()
            _ = pthread_setspecific(VCPUKicker.unblockedKey, UnsafeRawPointer(bitPattern: 1))
        }
    }

    private static let unblockedKey: pthread_key_t = {
        var key = pthread_key_t()
        _ = pthread_key_create(&key, nil)
        return key
    }()

    /// Called when `run()` returns. `kick()` signals only a thread inside `run()`, under the lock
    /// this takes: a thread that has left `run()` (and may have exited, its pthread_t freed) is
    /// never signalled. Signalling an ended thread's id is undefined and crashed the test process.
    func unbindCurrentThread() {
        thread.withLock { $0 = nil }
    }

    private static func unblockSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Installs the kick signal handler; done automatically by the first `kick()`, but a VMM calls it
    /// before starting vCPU threads so a kick can never meet the default action (process exit).
    public static func prepare() throws(KVMError) { try installed.get() }

    /// Interrupts the vCPU's current or next KVM_RUN.
    public func kick() throws(KVMError) {
        try VCPUKicker.prepare()
        runPage.setImmediateExit(true)
        // Not inside run(): immediate_exit suffices. Inside it: the lock keeps the thread in run()
        // (unbindCurrentThread waits for it), so it is alive while it is signalled.
        let r = thread.withLock { t -> Int32 in
            guard let running = t else { return 0 }
            return ckvm_kick_thread(UInt(running), VCPUKicker.signal)
        }
        // ESRCH cannot happen while bound (the thread is inside run()); any error is reported.
        if r < 0 { throw KVMError.system(.kick, errno: Errno(rawValue: -r)) }
    }
}
