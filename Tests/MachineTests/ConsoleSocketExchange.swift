// The user's side of `vmm run --console socket=PATH` in a test: a background thread connects as soon
// as the socket is there, waits for a marker from the guest, sends one line and keeps reading until
// the VMM closes the connection, so the test can check both directions after the VM has ended.
import Foundation
import Synchronization

final class ConsoleSocketExchange: Sendable {
    private let received = Mutex<[UInt8]>([])
    private let sent = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Everything the guest wrote to the console while the client was connected.
    var text: String { String(decoding: received.withLock { $0 }, as: UTF8.self) }
    /// Whether the line went out (the marker was seen).
    var didSend: Bool { sent.withLock { $0 } }

    init(path: String, waitFor marker: String, send line: String, seconds: Double = 280) {
        let deadline = Date().addingTimeInterval(seconds)
        let thread = Thread { [self] in
            defer { finished.signal() }
            var fd: Int32 = -1
            while fd < 0 && Date() < deadline {
                fd = connectUnix(path)
                if fd < 0 { usleep(50_000) }
            }
            guard fd >= 0 else { return }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 1000) >= 0 else { return }
                guard p.revents != 0 else { continue }
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { return }   // the VMM ended and closed the connection
                received.withLock { $0 += buffer[0..<n] }
                if !didSend && text.contains(marker) {
                    let bytes = Array(line.utf8)
                    sent.withLock { $0 = write(fd, bytes, bytes.count) == bytes.count }
                }
            }
        }
        thread.start()
    }

    /// Waits for the client to finish (the VMM closed the socket); false when it did not in time.
    func wait(seconds: Int = 30) -> Bool { finished.wait(timeout: .now() + .seconds(seconds)) == .success }
}
