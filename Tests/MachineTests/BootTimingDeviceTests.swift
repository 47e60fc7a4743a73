// The boot-timer MMIO page and the POST-code port, without KVM: log lines, recorded values, and
// that anything but the documented accesses is ignored.
import Machine
import Synchronization
import Testing

/// Collects log lines from device closures (called on vCPU threads in a real VM).
final class LineLog: Sendable {
    private let lines = Mutex<[String]>([])
    var sink: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A clock the test advances by hand.
final class ScriptedClock: Sendable {
    private let now = Mutex(BootTimestamp(monotonicMicroseconds: 0, cpuMicroseconds: 0))
    func set(_ wall: UInt64, _ cpu: UInt64) { now.withLock { $0 = BootTimestamp(monotonicMicroseconds: wall, cpuMicroseconds: cpu) } }
    var read: @Sendable () -> BootTimestamp { { [self] in now.withLock { $0 } } }
}

@Suite struct BootTimerDeviceTests {
    @Test func logsFirecrackersExactLine() {
        let log = LineLog(), clock = ScriptedClock()
        let start = BootTimestamp(monotonicMicroseconds: 1_000_000, cpuMicroseconds: 50_000)
        let timer = BootTimerDevice(start: start, log: log.sink, clock: clock.read)
        clock.set(1_279_446, 322_485)
        timer.write(offset: 0, size: 1, value: 123)
        // Firecracker's own sample line: "Guest-boot-time = 279446 us 279 ms, 272485 CPU us 272 CPU ms".
        #expect(log.all == ["Guest-boot-time = 279446 us 279 ms, 272485 CPU us 272 CPU ms"])
        #expect(timer.lastMeasurement == BootTimeMeasurement(wallMicroseconds: 279_446, cpuMicroseconds: 272_485))
    }

    @Test func shortTimesArePaddedToSixColumns() {
        #expect(BootTimeMeasurement(wallMicroseconds: 7123, cpuMicroseconds: 1456).logLine
            == "Guest-boot-time =   7123 us 7 ms,   1456 CPU us 1 CPU ms")
        #expect(BootTimeMeasurement(wallMicroseconds: 12_345_678, cpuMicroseconds: 0).logLine
            == "Guest-boot-time = 12345678 us 12345 ms,      0 CPU us 0 CPU ms")
    }

    @Test func otherAccessesAreIgnoredAndReadAsZero() {
        let log = LineLog()
        let timer = BootTimerDevice(start: .now(), log: log.sink)
        timer.write(offset: 0, size: 1, value: 122)
        timer.write(offset: 1, size: 1, value: 123)
        timer.write(offset: 0, size: 4, value: 123)
        #expect(log.all.isEmpty)
        #expect(timer.lastMeasurement == nil)
        #expect(timer.read(offset: 0, size: 1) == 0)
        #expect(timer.read(offset: 0xFF8, size: 8) == 0)
    }

    @Test func realClocksGiveIncreasingMeasurements() throws {
        let log = LineLog()
        let timer = BootTimerDevice(start: .now(), log: log.sink)
        timer.write(offset: 0, size: 1, value: 123)
        let first = try #require(timer.lastMeasurement)
        // Spin so both the wall clock and this process's CPU clock move on.
        var x: UInt64 = 1
        let until = BootTimestamp.now().monotonicMicroseconds + 3000
        while BootTimestamp.now().monotonicMicroseconds < until { x = x &* 6364136223846793005 &+ 1 }
        #expect(x != 0)
        timer.write(offset: 0, size: 1, value: 123)
        let second = try #require(timer.lastMeasurement)
        #expect(second.wallMicroseconds >= first.wallMicroseconds + 3000)
        #expect(second.cpuMicroseconds > first.cpuMicroseconds)
        #expect(timer.allMeasurements == [first, second])
        #expect(log.all.count == 2)
        #expect(log.all.allSatisfy { $0.hasPrefix("Guest-boot-time = ") && $0.hasSuffix(" CPU ms") })
    }

    @Test func defaultsMatchTheDocumentedPlacement() {
        #expect(BootTimerDevice.defaultBase == 0xC000_0000)
        #expect(BootTimerDevice.firecrackerBase == 0xD000_0000)
        #expect(BootTimerDevice.length == 0x1000)
    }
}

@Suite struct PostCodePortTests {
    @Test func recordsEveryByteWithItsTime() {
        let log = LineLog(), clock = ScriptedClock()
        let port = PostCodePort(start: BootTimestamp(monotonicMicroseconds: 500, cpuMicroseconds: 0), log: log.sink, clock: clock.read)
        clock.set(10_500, 0); port.write(offset: 0, size: 1, value: 0x40)
        clock.set(20_000, 0); port.write(offset: 0, size: 1, value: 0x00)
        clock.set(1_250_500, 0); port.write(offset: 0, size: 1, value: 0x41)
        clock.set(1_300_000, 0); port.write(offset: 0, size: 1, value: 0x00)
        #expect(port.records == [PostCode(code: 0x40, elapsedMicroseconds: 10_000), PostCode(code: 0, elapsedMicroseconds: 19_500),
                                 PostCode(code: 0x41, elapsedMicroseconds: 1_250_000), PostCode(code: 0, elapsedMicroseconds: 1_299_500)])
        #expect(port.totalWrites == 4)
        #expect(port.firstWrite(of: 0x41) == PostCode(code: 0x41, elapsedMicroseconds: 1_250_000))
        #expect(port.kernelToUserSpaceMicroseconds == 1_240_000)
        // Each code is logged once, in Cloud Hypervisor's format.
        #expect(log.all == ["[Debug I/O port: Kernel code 0x40] 0.010000 seconds",
                            "[Debug I/O port: Firmware code 0x0] 0.019500 seconds",
                            "[Debug I/O port: Kernel code 0x41] 1.250000 seconds"])
    }

    @Test func stagesFollowCloudHypervisorsRanges() {
        let stages = [UInt8(0x1F), 0x20, 0x3F, 0x5F, 0x60, 0x7F, 0x80, 0xFF].map { PostCode(code: $0, elapsedMicroseconds: 0).stage }
        #expect(stages == ["Firmware", "Bootloader", "Bootloader", "Kernel", "Userspace", "Userspace", "Custom", "Custom"])
    }

    @Test func recordIsBoundedAndKeepsTheNewest() {
        let port = PostCodePort(start: .now(), log: { _ in })
        let n = PostCodePort.keptRecords + 10
        for i in 0..<n { port.write(offset: 0, size: 1, value: UInt64(i)) }
        let records = port.records
        #expect(records.count == PostCodePort.keptRecords)
        #expect(records.first?.code == UInt8(truncatingIfNeeded: 10))
        #expect(records.last?.code == UInt8(truncatingIfNeeded: n - 1))
        #expect(port.totalWrites == UInt64(n))
        #expect(port.firstWrite(of: 0x41) != nil)
        #expect(port.kernelToUserSpaceMicroseconds != nil)
    }

    @Test func wideWritesUseTheLowByteAndReadsFloatHigh() {
        let port = PostCodePort(start: .now(), log: { _ in })
        port.write(offset: 0, size: 4, value: 0x1234_5641)
        #expect(port.records.map(\.code) == [0x41])
        #expect(port.read(offset: 0, size: 1) == 0xFF)
        #expect(port.kernelToUserSpaceMicroseconds == nil)
    }

    @Test func delayPortIgnoresWrites() {
        let delay = IODelayPort()
        delay.write(offset: 0, size: 1, value: 0)
        #expect(delay.read(offset: 0, size: 1) == 0xFF)
        #expect(IODelayPort.port == 0xED && PostCodePort.port == 0x80)
    }
}
