// SIGINT and SIGTERM stop the machine cleanly: they are blocked in every thread (vCPU threads inherit
// the mask) and received by one waiting thread, which asks the machine to stop. vCPU threads keep the
// kick signal unblocked. SIGWINCH (the controlling terminal was resized) is taken by the same thread
// and handed to whoever registered for it (the virtio console on stdio), since a signal that some
// thread leaves unblocked would be lost there (its default action is to ignore it).
import Glibc
import Synchronization

public enum StopSignals {
    private static let windowChangeHandlers = Mutex<[@Sendable () -> Void]>([])

    /// Blocks SIGINT/SIGTERM/SIGWINCH in the calling thread (call before creating other threads) and
    /// starts a thread that calls `onSignal` with the signal's name when SIGINT or SIGTERM arrives.
    public static func install(_ onSignal: @escaping @Sendable (String) -> Void) {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waiter = VCPUThread(name: "signals") {
            var waitSet = signalSet()
            while true {
                var received: Int32 = 0
                guard sigwait(&waitSet, &received) == 0 else { continue }
                if received == SIGWINCH {
                    windowChangeHandlers.withLock { $0 }.forEach { $0() }
                    continue
                }
                onSignal(received == SIGINT ? "SIGINT" : "SIGTERM")
            }
        }
        _ = waiter.start()
    }

    /// Runs `handler` on the signal thread at each SIGWINCH (only once `install` has run).
    public static func onWindowChange(_ handler: @escaping @Sendable () -> Void) {
        windowChangeHandlers.withLock { $0.append(handler) }
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGWINCH)
        return set
    }
}
