// The host end of the virtio console (`vmm run --console ...`): the device, where its output goes
// and where its input comes from. Every input source is read on the event loop with the device's
// back-pressure (ConsoleInput, UnixSocketConsole); output is written from the event loop as the
// guest queues it. A terminal's window size becomes the console size.
import CKVM
import Glibc
import KVMCore
import Logging
import Synchronization
import SystemPackage
import VirtioDevices

/// Where the virtio console's one port is connected.
public enum ConsoleConfiguration: Sendable, Equatable {
    /// Output to `output`, input from `input` (nil: none); the machine closes neither. When one of
    /// them is a terminal its window size is the console size, updated on SIGWINCH once
    /// `StopSignals.install` runs. `vmm run --console stdio` is (0, 1).
    case fileDescriptors(input: Int32?, output: Int32)
    /// A new pseudo-terminal; `VirtioConsoleHost.ptyPath` names the side a user opens (`screen`).
    case pty
    /// A Unix socket server at `path`, one client at a time.
    case socket(path: String)
    /// Output to a file (created or truncated); no input.
    case file(path: String)
    /// The device with nothing behind it: output is discarded, there is no input.
    case disconnected
}

/// Writes console output to a descriptor: in full when it blocks (stdout, a file); when it does not
/// (a pty nobody reads), what it cannot take now is dropped and counted rather than stalling the
/// event loop.
final class DescriptorSink: ConsoleSink {
    let fd: Int32
    let logger: Logger
    private let dropped = Atomic<UInt64>(0)

    init(fd: Int32, logger: Logger) {
        self.fd = fd
        self.logger = logger
    }

    var droppedBytes: UInt64 { dropped.load(ordering: .relaxed) }

    func write(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { break }
        }
        guard done < bytes.count else { return }
        if dropped.add(UInt64(bytes.count - done), ordering: .relaxed).oldValue == 0 {
            logger.warning("virtio console output is not being read: dropping what does not fit")
        }
    }
}

struct DiscardSink: ConsoleSink {
    func write(_ bytes: [UInt8]) {}
}

/// The socket console needs the device (for input) and the device's sink needs the socket console:
/// this box, filled once both exist, breaks the cycle (and is emptied when the host goes away).
final class SocketSink: ConsoleSink {
    let console = Mutex<UnixSocketConsole?>(nil)
    func write(_ bytes: [UInt8]) { console.withLock { $0 }?.send(bytes) }
}

public final class VirtioConsoleHost: Sendable {
    public let device: VirtioConsole
    /// The pseudo-terminal's path for `.pty` (print it so a user can `screen` it).
    public let ptyPath: String?
    let socket: UnixSocketConsole?
    private let socketSink: SocketSink?
    private let inputFD: Int32?
    /// A terminal whose window size is the console size.
    private let sizeFD: Int32?
    private let watchesSIGWINCH: Bool
    /// Descriptors this host opened (pty sides, output file), closed in deinit.
    private let ownedFDs: [Int32]
    private let logger: Logger
    private let input = Mutex<ConsoleInput?>(nil)

    /// Opens what the configuration names (a pty, a file, a listening socket) and creates the
    /// device. Failures name the call, the path and errno.
    public init(_ configuration: ConsoleConfiguration, logger: Logger) throws(ConsoleError) {
        self.logger = logger
        var owned: [Int32] = []
        var ptyPath: String? = nil
        var socketSink: SocketSink? = nil
        let sink: any ConsoleSink
        switch configuration {
        case let .fileDescriptors(input, output):
            sink = DescriptorSink(fd: output, logger: logger)
            inputFD = input
            sizeFD = [input, output].compactMap { $0 }.first { isatty($0) == 1 }
            watchesSIGWINCH = sizeFD != nil
        case .pty:
            let (main, subordinate, path) = try Self.openPseudoTerminal()
            owned = [main, subordinate]
            ptyPath = path
            sink = DescriptorSink(fd: main, logger: logger)
            inputFD = main
            sizeFD = main
            watchesSIGWINCH = false
        case .socket:
            let box = SocketSink()
            socketSink = box
            sink = box
            inputFD = nil
            sizeFD = nil
            watchesSIGWINCH = false
        case let .file(path):
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .lastError("open", path) }
            owned = [fd]
            sink = DescriptorSink(fd: fd, logger: logger)
            inputFD = nil
            sizeFD = nil
            watchesSIGWINCH = false
        case .disconnected:
            sink = DiscardSink()
            inputFD = nil
            sizeFD = nil
            watchesSIGWINCH = false
        }
        let size = sizeFD.flatMap(Self.windowSize) ?? (0, 0)
        let device = VirtioConsole(sink: sink, columns: size.columns, rows: size.rows)
        self.device = device
        self.ptyPath = ptyPath
        self.socketSink = socketSink
        self.ownedFDs = owned
        if case let .socket(path) = configuration {
            do {
                let console = try UnixSocketConsole(path: path, input: device, logger: logger)
                socketSink?.console.withLock { $0 = console }
                socket = console
            } catch {
                owned.forEach { _ = close($0) }
                throw error
            }
        } else {
            socket = nil
        }
    }

    deinit {
        socketSink?.console.withLock { $0 = nil }
        ownedFDs.forEach { _ = close($0) }
    }

    /// Starts reading input on `loop` (the machine calls this in `run()`). An input that cannot be
    /// polled (a regular file, /dev/null) just gives the guest no input.
    public func start(on loop: EventLoop) throws(KVMError) {
        try socket?.start(on: loop)
        if let fd = inputFD {
            // A pty's main side gets no SIGWINCH: its size is looked at again after each input.
            var afterRead: (@Sendable () -> Void)? = nil
            if sizeFD == fd && !watchesSIGWINCH { afterRead = { [weak self] in self?.refreshSize() } }
            let reader = ConsoleInput(fd: fd, target: device, loop: loop, afterRead: afterRead)
            do throws(KVMError) {
                try reader.start()
                input.withLock { $0 = reader }
            } catch {
                guard error.errno == .notPermitted else { throw error }
                logger.info("virtio console input is not pollable (a regular file or /dev/null): no console input")
            }
        }
        if watchesSIGWINCH {
            StopSignals.onWindowChange { [weak self] in self?.refreshSize() }
        }
    }

    /// Re-reads the terminal's window size; a change reaches the guest as a config interrupt.
    func refreshSize() {
        guard let fd = sizeFD, let size = Self.windowSize(fd) else { return }
        device.resize(columns: size.columns, rows: size.rows)
    }

    static func windowSize(_ fd: Int32) -> (columns: UInt16, rows: UInt16)? {
        var columns: UInt16 = 0, rows: UInt16 = 0
        guard ckvm_tty_window_size(fd, &columns, &rows) == 0 else { return nil }
        return (columns, rows)
    }

    /// A pseudo-terminal pair. The subordinate side stays open here, in raw mode: without it the
    /// main side reads EIO (and polls as hung up) whenever no user has the terminal open, and
    /// without raw mode its line discipline would echo the guest's output back as input.
    static func openPseudoTerminal() throws(ConsoleError) -> (main: Int32, subordinate: Int32, path: String) {
        let main = ckvm_tty_openpt()
        guard main >= 0 else { throw .system(operation: "posix_openpt", path: "/dev/ptmx", errno: Errno(rawValue: -main)) }
        func fail(_ operation: String, _ result: Int32, path: String = "/dev/ptmx") -> ConsoleError {
            close(main)
            return .system(operation: operation, path: path, errno: Errno(rawValue: -result))
        }
        var r = ckvm_tty_grantpt(main)
        guard r == 0 else { throw fail("grantpt", r) }
        r = ckvm_tty_unlockpt(main)
        guard r == 0 else { throw fail("unlockpt", r) }
        var name = [CChar](repeating: 0, count: 128)
        r = ckvm_tty_ptsname(main, &name, name.count)
        guard r == 0 else { throw fail("ptsname_r", r) }
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let subordinate = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard subordinate >= 0 else { throw fail("open", -errno, path: path) }
        var mode = termios()
        if tcgetattr(subordinate, &mode) == 0 {
            cfmakeraw(&mode)
            _ = tcsetattr(subordinate, TCSANOW, &mode)
        }
        // The event loop must never block writing guest output nobody reads.
        _ = fcntl(main, F_SETFL, fcntl(main, F_GETFL) | O_NONBLOCK)
        return (main, subordinate, path)
    }
}
