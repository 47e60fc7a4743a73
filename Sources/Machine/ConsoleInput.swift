// Feeds a host file descriptor (stdin, a pty, a socket) into the UART's receive buffer from the event
// loop. When the guest stops reading and the buffer fills, the descriptor is taken off the loop so
// the bytes wait in the host's buffer, and it goes back on when the guest drains the UART.
import Glibc
import KVMCore
import Synchronization

final class ConsoleInput: Sendable {
    private let fd: Int32
    private let serial: SerialPort
    private let loop: EventLoop
    private let watching = Mutex(false)

    init(fd: Int32, serial: SerialPort, loop: EventLoop) {
        self.fd = fd
        self.serial = serial
        self.loop = loop
    }

    func start() throws(KVMError) {
        serial.onReceiveSpace { [weak self] in self?.resume() }
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
        let room = serial.receiveRoom
        guard room > 0 else { unwatch(); return }   // back-pressure: wait for onReceiveSpace
        var buffer = [UInt8](repeating: 0, count: min(room, 4096))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            serial.receive(buffer[0..<n])
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            unwatch()   // end of input (or an error): the guest simply sees no more bytes
        }
    }
}
