// A dedicated, named OS thread (vcpu0, vcpu1, ...): a blocking KVM_RUN must never occupy a thread of
// Swift's cooperative pool.
import CKVM
import Glibc

public final class VCPUThread: @unchecked Sendable {
    // @unchecked: `handle` is written once by start() before any other thread can see this object,
    // and read only by join() on the starting thread.
    private var handle: pthread_t?
    let name: String
    private let body: @Sendable () -> Void

    public init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts the thread; false if the system refused (the caller reports it).
    public func start() -> Int32 {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let r = pthread_create(&tid, nil, { raw in
            // Sound: `raw` is the retained VCPUThread passed below; released here exactly once.
            let thread = Unmanaged<VCPUThread>.fromOpaque(raw!).takeRetainedValue()
            // Linux limits thread names to 15 bytes; vCPU names are short.
            _ = ckvm_set_thread_name(String(thread.name.prefix(15)))
            thread.body()
            return nil
        }, box.toOpaque())
        if r != 0 {
            box.release()
            return r
        }
        handle = tid
        return 0
    }

    /// Waits for the thread to end.
    public func join() {
        guard let h = handle else { return }
        pthread_join(h, nil)
        handle = nil
    }
}
