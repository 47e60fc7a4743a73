// Firecracker's boot-timer pseudo device: the guest's init writes the byte 123 to offset 0 of an
// MMIO page when user space is up, and the VMM logs how long that took since it began building the
// VM, on the wall clock and in process CPU time. The log line is Firecracker's, character for
// character, so the scripts and dashboards that grep for `Guest-boot-time` work unchanged.
import Glibc
import Synchronization

/// One reading of the two clocks the boot timer compares, in microseconds.
public struct BootTimestamp: Sendable, Equatable {
    /// CLOCK_MONOTONIC: wall time that NTP steps and suspend-free jumps cannot move backwards.
    public let monotonicMicroseconds: UInt64
    /// CLOCK_PROCESS_CPUTIME_ID: CPU time of the whole VMM process (all threads).
    public let cpuMicroseconds: UInt64

    public init(monotonicMicroseconds: UInt64, cpuMicroseconds: UInt64) {
        self.monotonicMicroseconds = monotonicMicroseconds
        self.cpuMicroseconds = cpuMicroseconds
    }

    /// Both clocks now. Take one at the start of VM construction and hand it to the device.
    public static func now() -> BootTimestamp {
        BootTimestamp(monotonicMicroseconds: microseconds(CLOCK_MONOTONIC),
                      cpuMicroseconds: microseconds(CLOCK_PROCESS_CPUTIME_ID))
    }

    /// A clock that cannot be read (it always can on Linux) reads as 0 rather than trapping.
    static func microseconds(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        guard clock_gettime(clock, &ts) == 0, ts.tv_sec >= 0, ts.tv_nsec >= 0 else { return 0 }
        return UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec) / 1_000
    }
}

/// Time from the start instant to the guest's boot-complete signal.
public struct BootTimeMeasurement: Sendable, Equatable {
    public let wallMicroseconds: UInt64
    public let cpuMicroseconds: UInt64

    public init(wallMicroseconds: UInt64, cpuMicroseconds: UInt64) {
        self.wallMicroseconds = wallMicroseconds
        self.cpuMicroseconds = cpuMicroseconds
    }

    /// Firecracker's `"Guest-boot-time = {:>6} us {} ms, {:>6} CPU us {} CPU ms"`: the microsecond
    /// counts right-aligned in six columns, the millisecond counts truncated, not rounded.
    public var logLine: String {
        "Guest-boot-time = \(Self.padded(wallMicroseconds)) us \(wallMicroseconds / 1000) ms, "
            + "\(Self.padded(cpuMicroseconds)) CPU us \(cpuMicroseconds / 1000) CPU ms"
    }

    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: " ", count: max(0, 6 - digits.count)) + digits
    }
}

public final class BootTimerDevice: BusDevice {
    /// Where this VMM puts the page: the start of its 32-bit MMIO hole (3 GiB).
    public static let defaultBase: UInt64 = 0xC000_0000
    /// Where Firecracker puts it on x86 (its MMIO_MEM_START); guests built for Firecracker, such as
    /// its tests' init.c, write there.
    public static let firecrackerBase: UInt64 = 0xD000_0000
    /// One page, as Firecracker maps it (guests mmap a page of /dev/mem at the base).
    public static let length: UInt64 = 0x1000
    /// The value Firecracker's guests write when boot is complete.
    public static let bootCompleteMagic: UInt8 = 123

    private let start: BootTimestamp
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> BootTimestamp
    private let measurements = Mutex<[BootTimeMeasurement]>([])
    /// Guests may write the magic value in a loop; only this many measurements are kept.
    static let keptMeasurements = 16

    /// `start`: both clocks read when VM construction began. `log` receives each line (the
    /// launcher routes it to its logger or stderr). `clock` exists for tests; leave it out.
    public init(start: BootTimestamp, log: @escaping @Sendable (String) -> Void,
                clock: @escaping @Sendable () -> BootTimestamp = { BootTimestamp.now() }) {
        self.start = start
        self.log = log
        self.clock = clock
    }

    /// The most recent measurement, nil until the guest has signalled.
    public var lastMeasurement: BootTimeMeasurement? { measurements.withLock { $0.last } }
    /// Every measurement so far (the first `keptMeasurements` are kept, then the latest replaces
    /// the last one), oldest first.
    public var allMeasurements: [BootTimeMeasurement] { measurements.withLock { $0 } }

    /// Nothing to read: Firecracker's device answers reads with zeros.
    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        // Firecracker reacts only to a one-byte write of the magic value at offset 0.
        guard offset == 0, size == 1, UInt8(truncatingIfNeeded: value) == Self.bootCompleteMagic else { return }
        let now = clock()
        // A clock that went backwards (it cannot for these two) would give 0, not a trap.
        let m = BootTimeMeasurement(
            wallMicroseconds: now.monotonicMicroseconds >= start.monotonicMicroseconds
                ? now.monotonicMicroseconds - start.monotonicMicroseconds : 0,
            cpuMicroseconds: now.cpuMicroseconds >= start.cpuMicroseconds
                ? now.cpuMicroseconds - start.cpuMicroseconds : 0)
        measurements.withLock { list in
            if list.count >= Self.keptMeasurements { list[list.count - 1] = m } else { list.append(m) }
        }
        log(m.logLine)
    }
}
