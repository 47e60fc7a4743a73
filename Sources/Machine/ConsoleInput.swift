// Feeds a host file descriptor (stdin, a pty, a socket) into a console device's receive buffer from
// the event loop. When the guest stops reading and the buffer fills, the descriptor is taken off the
// loop so the bytes wait in the host's buffer, and it goes back on when the guest drains the device.
import Glibc
import KVMCore
import Synchronization
import VirtioDevices

/// A device that takes console input from the host with back-pressure: it accepts at most
/// `receiveRoom` bytes and runs the `onReceiveSpace` handlers when a full buffer drains. COM1's UART
/// and the virtio console are both fed this way.
public protocol ConsoleInputTarget: AnyObject, Sendable {
    var receiveRoom: Int { get }
    @discardableResult func receive(_ bytes: some Collection<UInt8>) -> Int
    func onReceiveSpace(_ handler: @escaping @Sendable () -> Void)
}

extension SerialPort: ConsoleInputTarget {}
extension VirtioConsole: ConsoleInputTarget {}

final class ConsoleInput: Sendable {
    private let fd: Int32
    private let target: any ConsoleInputTarget
    private let loop: EventLoop
    private let afterRead: (@Sendable () -> Void)?
    private let watching = Mutex(false)

    /// `afterRead` runs on the loop after each read that returned bytes (the pty console re-reads
    /// its window size there: a pty's main side gets no SIGWINCH).
    init(fd: Int32, target: any ConsoleInputTarget, loop: EventLoop, afterRead: (@Sendable () -> Void)? = nil) {
        self.fd = fd
        self.target = target
        self.loop = loop
        self.afterRead = afterRead
    }

    func start() throws(KVMError) {
        target.onReceiveSpace { [weak self] in self?.resume() }
        try watch()
    }

    private func watch() throws(KVMError) {
        try watching.withLock { (on: inout Bool) throws(KVMError) in
            guard !on else { return }
            try loop.add(fd) { [weak self] in self?.readable() }
            on = true
        }
    }

    private func resume() { try? watch() }

    private func unwatch() {
        watching.withLock { on in
            guard on else { return }
            loop.remove(fd)
            on = false
        }
    }

    private func readable() {
        let room = target.receiveRoom
        guard room > 0 else {
            // Back-pressure: wait for onReceiveSpace. The guest may have drained the buffer between
            // the check and the unwatch (its handler then found us still watching), so look again.
            unwatch()
            if target.receiveRoom > 0 { resume() }
            return
        }
        var buffer = [UInt8](repeating: 0, count: min(room, 4096))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            target.receive(buffer[0..<n])
            afterRead?()
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            unwatch()   // end of input (or an error): the guest simply sees no more bytes
        }
    }
}
