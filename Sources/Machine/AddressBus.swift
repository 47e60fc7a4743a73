// An address-range bus (port I/O or MMIO): sorted, non-overlapping ranges; a device sees offsets into
// its own range, never absolute addresses. Built once, immutable while vCPUs run.
import Logging
import Synchronization

/// A device on a bus. Called from vCPU threads (possibly several at once): implementations guard
/// their own state. `size` is 1, 2, 4 or 8; values are little-endian in the low bytes.
public protocol BusDevice: AnyObject, Sendable {
    func read(offset: UInt64, size: Int) -> UInt64
    func write(offset: UInt64, size: Int, value: UInt64)
}

public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyRange(name: String)
    case overlap(String, String)

    public var description: String {
        switch self {
        case let .emptyRange(name): "device \(name): empty or wrapping address range"
        case let .overlap(a, b): "devices \(a) and \(b) overlap on the bus"
        }
    }
}

public final class AddressBus: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let base: UInt64
        public let length: UInt64
        public let device: any BusDevice
        public init(name: String, base: UInt64, length: UInt64, device: any BusDevice) {
            self.name = name; self.base = base; self.length = length; self.device = device
        }
        var last: UInt64 { base &+ (length &- 1) }
    }

    public let kind: String
    private let entries: [Entry]
    private let logger: Logger
    /// Unmapped writes are logged once per address so a guest cannot flood the log.
    private let reportedUnmapped = Mutex<Set<UInt64>>([])

    /// Fails if any two ranges overlap or a range is empty / wraps past 2^64.
    public init(kind: String, entries: [Entry], logger: Logger = Logger(label: "vmm.bus")) throws(BusError) {
        for e in entries where e.length == 0 || e.base.addingReportingOverflow(e.length - 1).overflow {
            throw BusError.emptyRange(name: e.name)
        }
        let sorted = entries.sorted { $0.base < $1.base }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.base <= a.last {
            throw BusError.overlap(a.name, b.name)
        }
        self.kind = kind
        self.entries = sorted
        self.logger = logger
    }

    /// The device whose range holds `address`, with the offset into that range.
    public func lookup(_ address: UInt64) -> (entry: Entry, offset: UInt64)? {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let e = entries[mid]
            if address < e.base { hi = mid } else if address > e.last { lo = mid + 1 } else { return (e, address - e.base) }
        }
        return nil
    }

    /// Unmapped reads return all ones, as on real hardware with nothing answering.
    public func read(_ address: UInt64, size: Int) -> UInt64 {
        guard let (entry, offset) = lookup(address) else {
            return size >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(size))) - 1
        }
        return entry.device.read(offset: offset, size: size)
    }

    /// Unmapped writes are ignored (logged once per address).
    public func write(_ address: UInt64, size: Int, value: UInt64) {
        guard let (entry, offset) = lookup(address) else {
            let first = reportedUnmapped.withLock { seen in seen.count < 64 && seen.insert(address).inserted }
            if first {
                logger.debug("unmapped \(kind) write", metadata: ["address": "0x\(String(address, radix: 16))", "size": "\(size)"])
            }
            return
        }
        entry.device.write(offset: offset, size: size, value: value)
    }
}
