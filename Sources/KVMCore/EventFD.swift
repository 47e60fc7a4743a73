// An owning eventfd: the doorbell between KVM and the device event loop (ioeventfd, irqfd).
import CKVM
import Glibc
import SystemPackage

public final class EventFD: Sendable {
    public let fileDescriptor: FileDescriptor

    /// A non-blocking, close-on-exec eventfd starting at `initial`.
    public init(initial: UInt32 = 0, semaphore: Bool = false) throws(KVMError) {
        let raw = ckvm_eventfd(initial, semaphore ? 1 : 0)
        guard raw >= 0 else { throw KVMError.system(.eventfd, errno: Errno(rawValue: -raw)) }
        fileDescriptor = FileDescriptor(rawValue: raw)
    }

    deinit { try? fileDescriptor.close() }

    /// Adds `value` to the counter (wakes pollers).
    public func signal(_ value: UInt64 = 1) throws(KVMError) {
        var v = value
        let n = unsafe write(fileDescriptor.rawValue, &v, 8)
        if n != 8 { throw KVMError.system(.eventfd, errno: Errno(rawValue: Glibc.errno)) }
    }

    /// Reads and resets the counter; nil when it was zero (non-blocking).
    public func consume() throws(KVMError) -> UInt64? {
        var v: UInt64 = 0
        let n = unsafe read(fileDescriptor.rawValue, &v, 8)
        if n == 8 { return v }
        let e = Errno(rawValue: Glibc.errno)
        if e == .wouldBlock || e == .resourceTemporarilyUnavailable { return nil }
        throw KVMError.system(.eventfd, errno: e)
    }
}
