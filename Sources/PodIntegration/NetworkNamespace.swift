// Running code inside another network namespace: setns(2) changes only the calling thread, so the
// body runs on a fresh OS thread that enters the namespace and ends with it — never on a thread of
// the Swift concurrency pool, which would stay in the wrong namespace for whatever runs next.
// Child processes (`ip`, `nft`) and sockets created on that thread belong to the namespace.
import CKVM
import Glibc
import SystemPackage

public enum NetworkNamespace {
    /// Runs `body` on a new thread inside the namespace at `path` (e.g. /var/run/netns/NAME) and
    /// waits for it.
    public static func run<T: Sendable>(path: String, _ body: @escaping @Sendable () throws(PodNetworkError) -> T) throws(PodNetworkError) -> T {
        let box = ResultBox<T>()
        let work = Work { () -> Void in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { box.result = .failure(.system(.setns, errno: Errno(rawValue: Glibc.errno), detail: path)); return }
            let r = ckvm_net_setns_net(fd)
            close(fd)
            guard r == 0 else { box.result = .failure(.system(.setns, errno: Errno(rawValue: -r), detail: path)); return }
            do throws(PodNetworkError) { box.result = .success(try body()) } catch { box.result = .failure(error) }
        }
        let retained = Unmanaged.passRetained(work)
        var tid = pthread_t()
        let r = pthread_create(&tid, nil, { raw in
            // Sound: `raw` is the Work retained above, released here exactly once.
            let w = unsafe Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
            w.body()
            return nil
        }, retained.toOpaque())
        guard r == 0 else {
            retained.release()
            throw .system(.thread, errno: Errno(rawValue: r), detail: "netns")
        }
        pthread_join(tid, nil)
        // The join orders the thread's write of `result` before this read.
        return try box.result!.get()
    }

    private final class Work: @unchecked Sendable {
        // @unchecked: immutable after init; handed to exactly one thread.
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        // @unchecked: written once by the namespace thread, read after pthread_join.
        var result: Result<T, PodNetworkError>?
    }
}
