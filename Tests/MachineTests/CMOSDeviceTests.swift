// The MC146818 RTC and CMOS RAM without KVM: the time against the host's own gmtime_r, both
// encodings and both hour formats, guest-set time, the memory-size fields for several layouts.
import Glibc
import GuestMemory
import Machine
import Synchronization
import Testing

/// A host clock (Unix seconds) the test sets.
final class ManualSeconds: Sendable {
    let value: Mutex<Int64>
    init(_ v: Int64) { value = Mutex(v) }
    var read: @Sendable () -> Int64 { { [self] in value.withLock { $0 } } }
}

extension CMOSDevice {
    func register(_ index: UInt8) -> UInt8 {
        write(offset: 0, size: 1, value: UInt64(index))
        return UInt8(truncatingIfNeeded: read(offset: 1, size: 1))
    }
    func set(_ index: UInt8, _ value: UInt8) {
        write(offset: 0, size: 1, value: UInt64(index))
        write(offset: 1, size: 1, value: UInt64(value))
    }
    func word(_ low: UInt8) -> UInt16 { UInt16(register(low)) | UInt16(register(low + 1)) << 8 }
}

func bcd(_ b: UInt8) -> Int { Int(b >> 4) * 10 + Int(b & 0xF) }

@Suite struct CMOSDeviceTests {
    /// The fields as the host's libc breaks the time down: an oracle independent of CivilTime.
    func gmtime(_ t: Int64) -> [Int] {
        var seconds = time_t(t), parts = tm()
        _ = gmtime_r(&seconds, &parts)
        return [Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(parts.tm_wday) + 1]
    }

    func fields(_ rtc: CMOSDevice, decode: (UInt8) -> Int) -> [Int] {
        [decode(rtc.register(0x32)) * 100 + decode(rtc.register(0x09)), decode(rtc.register(0x08)),
         decode(rtc.register(0x07)), decode(rtc.register(0x04)), decode(rtc.register(0x02)),
         decode(rtc.register(0x00)), decode(rtc.register(0x06))]
    }

    /// True when `seen` is the host's UTC time at some second in [before - 2, after + 2].
    func matchesHostTime(_ seen: [Int], before: Int64, after: Int64) -> Bool {
        (before - 2...after + 2).contains { gmtime($0) == seen }
    }

    @Test func bcdTimeIsTheHostsUTCTime() {
        let rtc = CMOSDevice(ramBelow4GiB: 128 << 20, ramAbove4GiB: 0)
        #expect(rtc.register(0x0B) & 0x06 == 0x02, "power-on mode: BCD, 24-hour")
        let before = Int64(time(nil))
        let seen = fields(rtc, decode: bcd)
        #expect(matchesHostTime(seen, before: before, after: Int64(time(nil))), "RTC read \(seen), host \(gmtime(before))")
    }

    @Test func binaryTimeIsTheHostsUTCTime() {
        let rtc = CMOSDevice(ramBelow4GiB: 128 << 20, ramAbove4GiB: 0)
        rtc.set(0x0B, 0x06) // binary, 24-hour
        let before = Int64(time(nil))
        let seen = fields(rtc, decode: { Int($0) })
        #expect(matchesHostTime(seen, before: before, after: Int64(time(nil))), "RTC read \(seen), host \(gmtime(before))")
    }

    @Test func twelveHourModeMarksPM() {
        let clock = ManualSeconds(1_940_939_130) // 2031-07-04 13:45:30 UTC, a Friday
        let rtc = CMOSDevice(ramBelow4GiB: 1 << 20, ramAbove4GiB: 0, hostSeconds: clock.read)
        rtc.set(0x0B, 0x00) // BCD, 12-hour
        #expect(rtc.register(0x04) == 0x81)
        rtc.set(0x0B, 0x04) // binary, 12-hour
        #expect(rtc.register(0x04) == 0x81)
        clock.value.withLock { $0 -= 13 * 3600 } // 00:45:30: midnight hour reads as 12 AM
        #expect(rtc.register(0x04) == 12)
        rtc.set(0x0B, 0x02)
        #expect(rtc.register(0x04) == 0x00)
        #expect(rtc.register(0x06) == 6)
    }

    @Test func guestSetsTheClockUnderTheSetBit() {
        let clock = ManualSeconds(951_782_400) // 2000-02-29 00:00:00
        let rtc = CMOSDevice(ramBelow4GiB: 1 << 20, ramAbove4GiB: 0, hostSeconds: clock.read)
        rtc.set(0x0B, 0x82) // SET, BCD, 24-hour: the clock holds while the guest writes it
        for (index, value) in [(UInt8(0x32), UInt8(0x20)), (0x09, 0x31), (0x08, 0x07), (0x07, 0x04), (0x04, 0x13), (0x02, 0x45), (0x00, 0x30)] {
            rtc.set(index, value)
        }
        clock.value.withLock { $0 += 100 } // time passing while SET is on does not move the clock
        #expect(rtc.register(0x00) == 0x30)
        rtc.set(0x0B, 0x02)
        clock.value.withLock { $0 += 5 }
        #expect(fields(rtc, decode: bcd) == [2031, 7, 4, 13, 45, 35, 6])
        // Without SET, a single field write takes effect at once and the rest keep counting.
        rtc.set(0x04, 0x08)
        #expect(rtc.register(0x04) == 0x08 && rtc.register(0x02) == 0x45 && rtc.register(0x07) == 0x04)
    }

    @Test func statusRegisters() {
        let rtc = CMOSDevice(ramBelow4GiB: 1 << 20, ramAbove4GiB: 0)
        #expect(rtc.register(0x0A) == 0x26)
        rtc.set(0x0A, 0xA6) // UIP is read-only
        #expect(rtc.register(0x0A) & 0x80 == 0)
        #expect(rtc.register(0x0C) == 0)
        rtc.set(0x0C, 0xF0)
        #expect(rtc.register(0x0C) == 0)
        rtc.set(0x0D, 0x00)
        #expect(rtc.register(0x0D) == 0x80)
        // Bit 7 of the index only gates NMIs: 0x8D still selects register D.
        #expect(rtc.register(0x8D) == 0x80)
        #expect(rtc.nmiDisabled)
        #expect(rtc.read(offset: 0, size: 1) == 0xFF)
    }

    @Test func generalRAMReadsBackAndTheIndexWraps() {
        let rtc = CMOSDevice(ramBelow4GiB: 1 << 20, ramAbove4GiB: 0)
        for index in UInt8(0x40)...0x4F { rtc.set(index, index ^ 0xA5) }
        for index in UInt8(0x40)...0x4F { #expect(rtc.register(index) == index ^ 0xA5) }
        rtc.set(0xFF, 0x77) // index masked to 0x7F
        #expect(rtc.register(0x7F) == 0x77)
    }

    @Test(arguments: [
        // (below 4 GiB, above 4 GiB, ext KiB, 64 KiB units over 16 MiB, 64 KiB units over 4 GiB)
        (UInt64(128) << 20, UInt64(0), UInt16(0xFFFF), UInt16(0x0700), UInt32(0)),
        (UInt64(2) << 30, UInt64(0), UInt16(0xFFFF), UInt16(0x7F00), UInt32(0)),
        (UInt64(3) << 30, UInt64(3) << 30, UInt16(0xFFFF), UInt16(0xBF00), UInt32(0xC000)), // 6 GiB split at 3 GiB
        (UInt64(16) << 20, UInt64(0), UInt16(15 * 1024), UInt16(0), UInt32(0)),
    ])
    func memorySizeFields(below: UInt64, above: UInt64, ext: UInt16, over16M: UInt16, over4G: UInt32) {
        let rtc = CMOSDevice(ramBelow4GiB: below, ramAbove4GiB: above)
        #expect(rtc.word(0x15) == 640)
        #expect(rtc.word(0x17) == ext)
        #expect(rtc.word(0x30) == ext)
        #expect(rtc.word(0x34) == over16M)
        let high = UInt32(rtc.register(0x5B)) | UInt32(rtc.register(0x5C)) << 8 | UInt32(rtc.register(0x5D)) << 16
        #expect(high == over4G)
    }

    @Test func memoryLayoutFromAGuestMemoryMap() throws {
        let memory = try GuestMemoryMap(regions: [.anonymous(at: GuestAddress(0), size: 32 << 20),
                                                  .anonymous(at: GuestAddress(4 << 30), size: 2 << 20)])
        let rtc = CMOSDevice(memory: memory, vcpuCount: 4)
        #expect(rtc.word(0x34) == 256) // (32 - 16) MiB / 64 KiB
        #expect(rtc.register(0x5B) == 32 && rtc.register(0x5C) == 0)
        #expect(rtc.register(0x5F) == 3)
    }
}

@Suite struct CivilTimeTests {
    static let known: [(Int64, [Int64])] = [
        (0, [1970, 1, 1, 0, 0, 0, 5]),
        (951_782_400, [2000, 2, 29, 0, 0, 0, 3]),
        (1_709_251_199, [2024, 2, 29, 23, 59, 59, 5]),
        (4_107_585_600, [2100, 3, 1, 12, 0, 0, 2]),
        (-1, [1969, 12, 31, 23, 59, 59, 4]),
        (-11_676_096_000, [1600, 1, 1, 0, 0, 0, 7]),
    ]

    @Test(arguments: known)
    func knownDates(seconds: Int64, expected: [Int64]) {
        let t = CivilTime(unixSeconds: seconds)
        #expect([t.year, t.month, t.day, t.hour, t.minute, t.second, t.dayOfWeek] == expected)
        #expect(t.unixSeconds == seconds)
    }

    @Test func agreesWithGmtimeAcrossCenturies() {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let t = Int64(x >> 1) % 8_000_000_000 - 2_000_000_000 // about 1906 ... 2223
            var seconds = time_t(t), parts = tm()
            _ = gmtime_r(&seconds, &parts)
            let c = CivilTime(unixSeconds: t)
            #expect([c.year, c.month, c.day, c.hour, c.minute, c.second]
                == [Int64(parts.tm_year) + 1900, Int64(parts.tm_mon) + 1, Int64(parts.tm_mday),
                    Int64(parts.tm_hour), Int64(parts.tm_min), Int64(parts.tm_sec)], "at \(t)")
            #expect(c.unixSeconds == t)
        }
    }

    @Test func extremeInputsDoNotTrap() {
        _ = CivilTime(unixSeconds: .min).daysSinceEpoch
        _ = CivilTime(unixSeconds: .max).dayOfWeek
        #expect(CivilTime(year: 2024, month: 99, day: 0, hour: 77, minute: -3, second: 99).unixSeconds
            == CivilTime(year: 2024, month: 12, day: 1, hour: 23, minute: 0, second: 59).unixSeconds)
    }
}
