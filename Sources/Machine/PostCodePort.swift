// The PC's POST-code port 0x80, used the way Cloud Hypervisor uses it: a guest stack marks its
// progress by writing one byte, and the VMM timestamps it relative to VM start. Cloud Hypervisor
// splits the byte space into ranges per boot stage (firmware, boot loader, kernel, user space);
// a kernel patched for boot timing writes 0x40 when it starts and 0x41 when it hands over to user
// space. Linux also writes port 0x80 as an I/O delay (outb_p, value 0 by default), thousands of
// times during boot, so the record is bounded and each code is logged only the first time.
import Synchronization

/// One byte the guest wrote, and when (microseconds of wall time since the start instant).
public struct PostCode: Sendable, Equatable {
    public let code: UInt8
    public let elapsedMicroseconds: UInt64
    public init(code: UInt8, elapsedMicroseconds: UInt64) {
        self.code = code
        self.elapsedMicroseconds = elapsedMicroseconds
    }

    /// Cloud Hypervisor's ranges, 32 codes each, the rest free for custom use.
    public var stage: String {
        switch code {
        case 0x00...0x1F: "Firmware"
        case 0x20...0x3F: "Bootloader"
        case 0x40...0x5F: "Kernel"
        case 0x60...0x7F: "Userspace"
        default: "Custom"
        }
    }

    /// Cloud Hypervisor's `[Debug I/O port: Kernel code 0x41] 0.012345 seconds`, with the fraction
    /// taken as the microseconds within the second (Cloud Hypervisor prints the total there).
    public var logLine: String {
        let seconds = elapsedMicroseconds / 1_000_000, micros = String(elapsedMicroseconds % 1_000_000)
        let fraction = String(repeating: "0", count: max(0, 6 - micros.count)) + micros
        return "[Debug I/O port: \(stage) code 0x\(String(code, radix: 16))] \(seconds).\(fraction) seconds"
    }
}

/// Port 0x80 (one port). Reads return 0xFF, as on a PC with no POST card answering.
public final class PostCodePort: BusDevice {
    public static let port: UInt16 = 0x80
    public static let length: UInt64 = 1
    /// What a kernel patched for boot timing writes at its start and when user space starts.
    public static let kernelStartCode: UInt8 = 0x40
    public static let userSpaceStartCode: UInt8 = 0x41
    /// The newest writes kept (older ones drop off); the first write of each code is kept apart.
    public static let keptRecords = 1024

    private struct State {
        var recent: [PostCode] = []
        var next = 0 // ring position once `recent` is full
        var total: UInt64 = 0
        var first: [UInt8: PostCode] = [:] // at most 256 entries
    }

    private let state = Mutex(State())
    private let start: BootTimestamp
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> BootTimestamp

    /// `start`: the instant VM construction began (the same one the boot timer gets). `log`
    /// receives one line the first time each code is written. `clock` exists for tests.
    public init(start: BootTimestamp, log: @escaping @Sendable (String) -> Void,
                clock: @escaping @Sendable () -> BootTimestamp = { BootTimestamp.now() }) {
        self.start = start
        self.log = log
        self.clock = clock
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        // A wider write (outw/outl) still carries the code in its low byte, as on a POST card.
        let now = clock().monotonicMicroseconds
        let record = PostCode(code: UInt8(truncatingIfNeeded: value),
                              elapsedMicroseconds: now >= start.monotonicMicroseconds ? now - start.monotonicMicroseconds : 0)
        let isFirst: Bool = state.withLock { s in
            s.total &+= 1
            if s.recent.count < Self.keptRecords {
                s.recent.append(record)
            } else {
                s.recent[s.next] = record
                s.next = (s.next + 1) % Self.keptRecords
            }
            guard s.first[record.code] == nil else { return false }
            s.first[record.code] = record
            return true
        }
        if isFirst { log(record.logLine) }
    }

    /// The newest writes (up to `keptRecords`), oldest first.
    public var records: [PostCode] {
        state.withLock { s in Array(s.recent[s.next...] + s.recent[..<s.next]) }
    }

    /// How many bytes the guest has written in all (including those no longer in `records`).
    public var totalWrites: UInt64 { state.withLock { $0.total } }

    /// When `code` was first written, or nil if it never was.
    public func firstWrite(of code: UInt8) -> PostCode? { state.withLock { $0.first[code] } }

    /// Kernel start to user-space start in microseconds, once both codes have been seen.
    public var kernelToUserSpaceMicroseconds: UInt64? {
        state.withLock { s in
            guard let k = s.first[Self.kernelStartCode], let u = s.first[Self.userSpaceStartCode],
                  u.elapsedMicroseconds >= k.elapsedMicroseconds else { return nil }
            return u.elapsedMicroseconds - k.elapsedMicroseconds
        }
    }
}

/// Port 0xED: an alternative I/O-delay port (Linux's io_delay=0xed). Writes do nothing; reads
/// return all ones like an unanswered port. A device of its own so the delay writes never reach
/// the unmapped-port log.
public final class IODelayPort: BusDevice {
    public static let port: UInt16 = 0xED
    public static let length: UInt64 = 1
    public init() {}
    public func read(offset: UInt64, size: Int) -> UInt64 {
        size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1
    }
    public func write(offset: UInt64, size: Int, value: UInt64) {}
}
