// SIGINT and SIGTERM stop the machine cleanly: they are blocked in every thread (vCPU threads inherit
// the mask) and received by one waiting thread, which asks the machine to stop. vCPU threads keep the
// kick signal unblocked.
import Glibc

public enum StopSignals {
    /// Blocks SIGINT/SIGTERM in the calling thread (call before creating other threads) and starts a
    /// thread that calls `onSignal` with the signal's name when one arrives.
    public static func install(_ onSignal: @escaping @Sendable (String) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waiter = VCPUThread(name: "signals") {
            var waitSet = sigset_t()
            sigemptyset(&waitSet)
            sigaddset(&waitSet, SIGINT)
            sigaddset(&waitSet, SIGTERM)
            while true {
                var received: Int32 = 0
                guard sigwait(&waitSet, &received) == 0 else { continue }
                onSignal(received == SIGINT ? "SIGINT" : "SIGTERM")
            }
        }
        _ = waiter.start()
    }
}
