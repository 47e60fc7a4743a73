// The MC146818 real-time clock and its 128 bytes of CMOS RAM behind the PC's index/data ports
// 0x70/0x71. Linux reads the wall time from it at boot (without it, the guest starts in 1970) and
// firmware such as SeaBIOS reads the RAM size from the fields PC BIOSes have always kept there.
// The clock is the host's UTC time plus an offset the guest may set; it is computed at each read,
// so it never needs a timer and an update is never "in progress" (UIP reads 0, and guests that
// wait for UIP to clear never spin). No periodic, alarm or update interrupts are generated.
import GuestMemory
import Glibc
import Synchronization

/// A calendar date and time of day (proleptic Gregorian, UTC), as the RTC shows it.
public struct CivilTime: Sendable, Equatable {
    public var year: Int64, month: Int64, day: Int64
    public var hour: Int64, minute: Int64, second: Int64

    public init(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }

    /// The time `unixSeconds` after 1970-01-01T00:00:00Z. Days to date by the era method (400-year
    /// cycles of 146097 days), which needs no tables and is exact for any Int64 day count in range.
    /// Times beyond about ±140 million years are clamped, so no step below can overflow.
    public init(unixSeconds: Int64) {
        let t = min(max(unixSeconds, -(1 << 52)), 1 << 52)
        let days = Self.floorDiv(t, 86_400), secs = t - days * 86_400
        hour = secs / 3600; minute = secs / 60 % 60; second = secs % 60
        let z = days + 719_468 // days since 0000-03-01: March-based years put leap day last
        let era = Self.floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097                                          // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365 // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100) // 0...365, from March 1
        let marchMonth = (5 * dayOfYear + 2) / 153                                 // 0 = March ... 11 = February
        day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Days since 1970-01-01 for this date (the inverse of the conversion above). Fields out of
    /// range (a guest can write any byte) are clamped first, so the result is always defined.
    public var daysSinceEpoch: Int64 {
        let m = min(max(month, 1), 12), d = min(max(day, 1), 31)
        let y = min(max(year, -1_000_000), 1_000_000) - (m <= 2 ? 1 : 0)
        let era = Self.floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public var unixSeconds: Int64 {
        daysSinceEpoch * 86_400 + min(max(hour, 0), 23) * 3600 + min(max(minute, 0), 59) * 60 + min(max(second, 0), 59)
    }

    /// 1 = Sunday ... 7 = Saturday, the RTC's numbering (1970-01-01 was a Thursday).
    public var dayOfWeek: Int64 { (daysSinceEpoch % 7 + 7 + 4) % 7 + 1 }

    /// Division rounding toward negative infinity (for b > 0), without the negation that would
    /// overflow on Int64.min.
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b != 0 && a < 0 ? q - 1 : q
    }
}

public final class CMOSDevice: BusDevice {
    public static let port: UInt16 = 0x70
    public static let length: UInt64 = 2

    // Register indices.
    static let seconds = 0x00, minutes = 0x02, hours = 0x04, weekday = 0x06
    static let dayOfMonth = 0x07, month = 0x08, year = 0x09
    static let registerA = 0x0A, registerB = 0x0B, registerC = 0x0C, registerD = 0x0D
    static let century = 0x32 // IBM PC/AT convention; ACPI's FADT names it for Linux
    /// Register A: 32.768 kHz time base, 1024 Hz periodic rate, the power-on default.
    static let registerADefault: UInt8 = 0x26
    /// Register B: 24-hour mode, BCD (what PC firmware leaves set).
    static let registerBDefault: UInt8 = 0x02
    static let bSet: UInt8 = 0x80, bBinary: UInt8 = 0x04, b24Hour: UInt8 = 0x02
    /// Register D: valid RAM and time (the battery is good).
    static let registerDValid: UInt8 = 0x80

    private struct State {
        var ram = [UInt8](repeating: 0, count: 128)
        var index = 0
        var nmiDisabled = false
        /// Guest time = host UTC + this many seconds; set when the guest writes the clock.
        var offset: Int64 = 0
        /// While register B's SET bit is on, the clock is frozen here and writes edit it.
        var held: CivilTime?
    }

    private let state: Mutex<State>
    private let hostSeconds: @Sendable () -> Int64

    /// `ramBelow4GiB`: bytes of RAM from address 0 up to the 32-bit hole; `ramAbove4GiB`: bytes from
    /// 4 GiB up. `vcpuCount`, when given, goes to 0x5F as QEMU leaves it for SeaBIOS. `hostSeconds`
    /// (Unix time, UTC) exists for tests; by default it is CLOCK_REALTIME.
    public init(ramBelow4GiB: UInt64, ramAbove4GiB: UInt64, vcpuCount: Int? = nil,
                hostSeconds: @escaping @Sendable () -> Int64 = { CMOSDevice.realtimeSeconds() }) {
        var s = State()
        s.ram[Self.registerA] = Self.registerADefault
        s.ram[Self.registerB] = Self.registerBDefault
        s.ram[Self.registerD] = Self.registerDValid
        Self.storeMemorySize(&s.ram, below: ramBelow4GiB, above: ramAbove4GiB)
        if let n = vcpuCount, n > 0 { s.ram[0x5F] = UInt8(truncatingIfNeeded: min(n, 256) - 1) }
        state = Mutex(s)
        self.hostSeconds = hostSeconds
    }

    /// The RAM layout of `memory`: what lies below 4 GiB and what lies above it.
    public convenience init(memory: GuestMemoryMap, vcpuCount: Int? = nil) {
        let fourGiB: UInt64 = 1 << 32
        var below: UInt64 = 0, above: UInt64 = 0
        for r in memory.regions {
            let start = r.start.raw, end = start.addingReportingOverflow(r.size).overflow ? UInt64.max : start + r.size
            if start < fourGiB { below &+= min(end, fourGiB) - start }
            if end > fourGiB { above &+= end - max(start, fourGiB) }
        }
        self.init(ramBelow4GiB: below, ramAbove4GiB: above, vcpuCount: vcpuCount)
    }

    public static func realtimeSeconds() -> Int64 {
        var ts = timespec()
        guard clock_gettime(CLOCK_REALTIME, &ts) == 0 else { return 0 }
        return Int64(ts.tv_sec)
    }

    /// The classic BIOS fields: base memory (KiB below 640 KiB), extended memory (KiB from 1 MiB,
    /// capped at 0xFFFF), 64 KiB units from 16 MiB to the top of low RAM (capped), and 64 KiB units
    /// above 4 GiB in three bytes (capped at 2^24 - 1, i.e. 1 TiB).
    static func storeMemorySize(_ ram: inout [UInt8], below: UInt64, above: UInt64) {
        func put16(_ at: Int, _ v: UInt64) {
            let c = min(v, 0xFFFF)
            ram[at] = UInt8(truncatingIfNeeded: c); ram[at + 1] = UInt8(truncatingIfNeeded: c >> 8)
        }
        let mib: UInt64 = 1 << 20, unit: UInt64 = 64 << 10
        put16(0x15, min(below / 1024, 640))
        let extended = below > mib ? (below - mib) / 1024 : 0
        put16(0x17, extended)
        put16(0x30, extended)
        put16(0x34, below > 16 * mib ? (below - 16 * mib) / unit : 0)
        let high = min(above / unit, 0xFF_FFFF)
        ram[0x5B] = UInt8(truncatingIfNeeded: high)
        ram[0x5C] = UInt8(truncatingIfNeeded: high >> 8)
        ram[0x5D] = UInt8(truncatingIfNeeded: high >> 16)
    }

    /// Whether the guest has set the NMI-disable bit (bit 7 of the index); kept, not acted on.
    public var nmiDisabled: Bool { state.withLock { $0.nmiDisabled } }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        // The index port is write-only on the chipset; reads float high.
        guard offset == 1 else { return size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1 }
        let now = hostSeconds()
        return UInt64(state.withLock { s -> UInt8 in
            let i = s.index
            switch i {
            case Self.registerA: return s.ram[i] & 0x7F // UIP is never set
            case Self.registerC:
                let flags = s.ram[i]
                s.ram[i] = 0 // reading C acknowledges every pending flag
                return flags
            case Self.registerD: return Self.registerDValid
            case Self.seconds, Self.minutes, Self.hours, Self.weekday, Self.dayOfMonth, Self.month, Self.year, Self.century:
                let t = s.held ?? CivilTime(unixSeconds: now &+ s.offset)
                return Self.encode(field: i, of: t, mode: s.ram[Self.registerB])
            default: return s.ram[i]
            }
        })
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        let now = hostSeconds()
        state.withLock { s in
            guard offset == 1 else {
                // Index port: bit 7 gates NMIs on a PC, the low 7 bits pick one of 128 bytes.
                if offset == 0 { s.index = Int(byte & 0x7F); s.nmiDisabled = byte & 0x80 != 0 }
                return
            }
            let i = s.index
            switch i {
            case Self.registerA: s.ram[i] = byte & 0x7F
            case Self.registerB:
                let wasSet = s.ram[i] & Self.bSet != 0, isSet = byte & Self.bSet != 0
                if !wasSet && isSet { s.held = CivilTime(unixSeconds: now &+ s.offset) }
                if wasSet && !isSet, let t = s.held { s.offset = t.unixSeconds &- now; s.held = nil }
                s.ram[i] = byte
            case Self.registerC, Self.registerD, Self.weekday: break // read-only, or derived from the date
            case Self.seconds, Self.minutes, Self.hours, Self.dayOfMonth, Self.month, Self.year, Self.century:
                var t = s.held ?? CivilTime(unixSeconds: now &+ s.offset)
                Self.decode(byte, into: &t, field: i, mode: s.ram[Self.registerB])
                // With SET on, the edit waits for SET to clear; otherwise it takes effect at once.
                if s.held != nil { s.held = t } else { s.offset = t.unixSeconds &- now }
            default: s.ram[i] = byte
            }
        }
    }

    // MARK: field encoding (register B: bit 2 binary instead of BCD, bit 1 24-hour instead of 12)

    static func toBCD(_ v: Int64) -> UInt8 {
        let c = ((v % 100) + 100) % 100
        return UInt8(c / 10) << 4 | UInt8(c % 10)
    }

    static func fromBCD(_ b: UInt8) -> Int64 { Int64(b >> 4) * 10 + Int64(b & 0x0F) }

    static func encode(field: Int, of t: CivilTime, mode: UInt8) -> UInt8 {
        let binary = mode & bBinary != 0
        func enc(_ v: Int64) -> UInt8 { binary ? UInt8(truncatingIfNeeded: v) : toBCD(v) }
        switch field {
        case seconds: return enc(t.second)
        case minutes: return enc(t.minute)
        case hours:
            if mode & b24Hour != 0 { return enc(t.hour) }
            // 12-hour mode: 12, 1 ... 11, with bit 7 for PM.
            let h12 = t.hour % 12 == 0 ? 12 : t.hour % 12
            return enc(h12) | (t.hour >= 12 ? 0x80 : 0)
        case weekday: return enc(t.dayOfWeek)
        case dayOfMonth: return enc(t.day)
        case month: return enc(t.month)
        case year: return enc(((t.year % 100) + 100) % 100)
        default: return enc(Self.floorDiv100(t.year)) // century
        }
    }

    static func floorDiv100(_ y: Int64) -> Int64 { CivilTime.floorDiv(y, 100) }

    /// Sets one field of `t` from a guest byte in the current mode. Any byte is accepted: BCD
    /// digits above 9 or values out of range are clamped when the time is converted back.
    static func decode(_ byte: UInt8, into t: inout CivilTime, field: Int, mode: UInt8) {
        let binary = mode & bBinary != 0
        func dec(_ b: UInt8) -> Int64 { binary ? Int64(b) : fromBCD(b) }
        switch field {
        case seconds: t.second = dec(byte)
        case minutes: t.minute = dec(byte)
        case hours:
            if mode & b24Hour != 0 { t.hour = dec(byte) } else {
                t.hour = dec(byte & 0x7F) % 12 + (byte & 0x80 != 0 ? 12 : 0)
            }
        case dayOfMonth: t.day = dec(byte)
        case month: t.month = dec(byte)
        case year: t.year = floorDiv100(t.year) * 100 + dec(byte) % 100
        default: t.year = dec(byte) * 100 + ((t.year % 100) + 100) % 100 // century
        }
    }
}
