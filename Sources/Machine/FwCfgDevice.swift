// QEMU's firmware configuration interface (docs/specs/fw_cfg.rst), x86 I/O-port flavour: a 16-bit
// selector at 0x510 picks an item, the data port 0x511 streams its bytes one at a time, and the
// DMA address register at 0x514 (big-endian, written high half then low half) lets the guest copy
// an item straight into its memory. Guests written for QEMU (SeaBIOS, Linux's qemu_fw_cfg, the
// kernel's boot-time probes) find the VMM's named files ("etc/...") through the file directory.
// Everything the guest controls is bounded: unknown selectors read as zeros, reads past the end of
// an item read zeros, and DMA goes through the checked guest-memory accessors.
import GuestMemory
import Synchronization

public enum FwCfgError: Error, Equatable, Sendable, CustomStringConvertible {
    case nameTooLong(String)
    case duplicateName(String)
    case tooManyFiles
    case fileTooLarge(String, size: Int)

    public var description: String {
        switch self {
        case let .nameTooLong(n): "fw_cfg file name \"\(n)\" is longer than 55 bytes"
        case let .duplicateName(n): "fw_cfg already has a file named \"\(n)\""
        case .tooManyFiles: "fw_cfg has no file selector left"
        case let .fileTooLarge(n, size): "fw_cfg file \"\(n)\" has \(size) bytes, more than 4 GiB - 1"
        }
    }
}

public final class FwCfgDevice: BusDevice {
    public static let port: UInt16 = 0x510
    /// Selector (0x510-0x511), data (0x511), DMA address (0x514-0x51B).
    public static let length: UInt64 = 0x0C

    // Selector keys (fw_cfg.rst).
    public static let signatureKey: UInt16 = 0x0000, idKey: UInt16 = 0x0001
    public static let ramSizeKey: UInt16 = 0x0003, cpuCountKey: UInt16 = 0x0005
    public static let maxCPUCountKey: UInt16 = 0x000F, fileDirectoryKey: UInt16 = 0x0019
    public static let firstFileKey: UInt16 = 0x0020
    /// Keys carry a write flag (bit 14) that selects the same item; items are read-only here.
    static let writeFlag: UInt16 = 0x4000
    /// Files take keys up to the entry mask; bit 15 is the architecture-specific table.
    static let lastFileKey: UInt16 = 0x3FFF
    /// A directory entry holds 56 bytes of name, NUL-terminated.
    public static let maxNameBytes = 55

    // ID bits: traditional interface, DMA interface.
    static let featureTraditional: UInt32 = 1, featureDMA: UInt32 = 2
    /// What a read of the DMA address register returns: "QEMU CFG", big-endian.
    static let dmaSignature = Array("QEMU CFG".utf8)

    // DMA control bits.
    static let dmaError: UInt32 = 0x01, dmaRead: UInt32 = 0x02, dmaSkip: UInt32 = 0x04
    static let dmaSelect: UInt32 = 0x08, dmaWrite: UInt32 = 0x10

    private struct State {
        var items: [UInt16: [UInt8]] = [:]
        var files: [(name: String, key: UInt16)] = []
        var selected: UInt16 = 0
        var offset = 0 // never above the selected item's length
        var dmaHigh: UInt32 = 0
    }

    private let state: Mutex<State>
    private let memory: GuestMemoryMap?

    /// `ramSize`: total guest RAM in bytes; `cpuCount`: vCPUs at boot; `maxCPUCount`: the most the
    /// guest may see (defaults to `cpuCount`). With `memory`, the DMA interface is offered (ID 3);
    /// without it only the byte-at-a-time interface (ID 1).
    public init(ramSize: UInt64, cpuCount: Int, maxCPUCount: Int? = nil, memory: GuestMemoryMap? = nil) {
        self.memory = memory
        var s = State()
        s.items[Self.signatureKey] = Array("QEMU".utf8)
        s.items[Self.idKey] = Self.le(UInt32(memory == nil ? Self.featureTraditional : Self.featureTraditional | Self.featureDMA))
        s.items[Self.ramSizeKey] = Self.le(ramSize)
        s.items[Self.cpuCountKey] = Self.le(UInt16(clamping: cpuCount))
        s.items[Self.maxCPUCountKey] = Self.le(UInt16(clamping: max(maxCPUCount ?? cpuCount, cpuCount)))
        s.items[Self.fileDirectoryKey] = Self.directory([])
        state = Mutex(s)
    }

    /// Adds a named file (e.g. "etc/boot-menu-wait") and returns its selector. Call before the VM
    /// runs; a guest that already read the directory would not see later files.
    @discardableResult
    public func addFile(name: String, bytes: [UInt8]) throws(FwCfgError) -> UInt16 {
        guard name.utf8.count <= Self.maxNameBytes else { throw .nameTooLong(name) }
        guard UInt64(bytes.count) <= UInt64(UInt32.max) else { throw .fileTooLarge(name, size: bytes.count) }
        return try state.withLock { s throws(FwCfgError) -> UInt16 in
            guard !s.files.contains(where: { $0.name == name }) else { throw .duplicateName(name) }
            guard s.files.count <= Int(Self.lastFileKey - Self.firstFileKey) else { throw .tooManyFiles }
            let key = Self.firstFileKey + UInt16(s.files.count) // bounded by the guard above
            s.items[key] = bytes
            s.files.append((name, key))
            s.items[Self.fileDirectoryKey] = Self.directory(s.files.map { ($0.name, $0.key, s.items[$0.key]?.count ?? 0) })
            return key
        }
    }

    /// The directory item: be32 count, then per file be32 size, be16 select, be16 reserved and
    /// 56 bytes of NUL-padded name, sorted by name as QEMU lists them.
    static func directory(_ files: [(name: String, key: UInt16, size: Int)]) -> [UInt8] {
        var out = be(UInt32(files.count))
        for f in files.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            out += be(UInt32(truncatingIfNeeded: f.size)) + be(f.key) + [0, 0]
            let name = Array(f.name.utf8.prefix(maxNameBytes))
            out += name + [UInt8](repeating: 0, count: 56 - name.count)
        }
        return out
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }
    }

    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { le(v).reversed() }

    // MARK: bus

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let n = min(max(size, 1), 8)
        switch offset {
        case 1:
            // Wider reads return successive bytes, lowest first, as `rep insb` would.
            return state.withLock { s in
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(Self.nextByte(&s)) << (8 * UInt64(i)) }
                return v
            }
        case 4..<12 where memory != nil:
            var v: UInt64 = 0
            for i in 0..<n {
                let at = Int(offset) - 4 + i
                if at < Self.dmaSignature.count { v |= UInt64(Self.dmaSignature[at]) << (8 * UInt64(i)) }
            }
            return v
        case 4..<12: return n >= 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(n))) - 1
        default: return 0
        }
    }

    /// The next byte of the selected item, or 0 past its end or for an unknown selector.
    private static func nextByte(_ s: inout State) -> UInt8 {
        guard let item = s.items[s.selected], s.offset < item.count else { return 0 }
        defer { s.offset += 1 }
        return item[s.offset]
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        switch (offset, size) {
        case (0, 2), (0, 4):
            state.withLock { s in Self.select(UInt16(truncatingIfNeeded: value), &s) }
        case (4, 4):
            // The guest wrote a big-endian word; the bus hands it over as little-endian bytes.
            state.withLock { $0.dmaHigh = UInt32(truncatingIfNeeded: value).byteSwapped }
        case (8, 4):
            let low = UInt32(truncatingIfNeeded: value).byteSwapped
            state.withLock { s in
                let address = UInt64(s.dmaHigh) << 32 | UInt64(low)
                s.dmaHigh = 0
                dma(at: address, &s)
            }
        case (4, 8):
            state.withLock { s in dma(at: value.byteSwapped, &s) }
        default:
            break // one-byte data writes: QEMU ignores them too since 2.4
        }
    }

    private static func select(_ key: UInt16, _ s: inout State) {
        s.selected = key & ~writeFlag
        s.offset = 0
    }

    // MARK: DMA

    /// Runs the FWCfgDmaAccess at `address` {be32 control, be32 length, be64 address} and writes
    /// its control word back: 0 when done, the error bit when the guest asked for something
    /// impossible. Without guest memory (no DMA offered) nothing happens.
    private func dma(at address: UInt64, _ s: inout State) {
        guard let memory else { return }
        let base = GuestAddress(address)
        guard let header = try? memory.read(count: 16, at: base) else { return }
        func be32(_ at: Int) -> UInt32 { header[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let control = be32(0), length = be32(4)
        let target = header[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if control & Self.dmaSelect != 0 { Self.select(UInt16(truncatingIfNeeded: control >> 16), &s) }
        var ok = true
        if control & Self.dmaRead != 0 {
            ok = copyOut(length: length, to: target, &s, memory: memory)
        } else if control & Self.dmaWrite != 0 {
            ok = false // every item is read-only, as QEMU's are unless a device allows writes
        } else if control & Self.dmaSkip != 0 {
            let itemLength = s.items[s.selected]?.count ?? 0
            s.offset = Int(min(UInt64(s.offset) + UInt64(length), UInt64(itemLength)))
        }
        try? memory.write(Self.be(ok ? 0 : Self.dmaError), at: base)
    }

    /// Copies up to `length` bytes of the selected item to guest memory and zero-fills whatever
    /// lies past the item's end, as QEMU does.
    private func copyOut(length: UInt32, to target: UInt64, _ s: inout State, memory: GuestMemoryMap) -> Bool {
        let item = s.items[s.selected] ?? []
        let available = min(Int(length), item.count - s.offset)
        do {
            if available > 0 {
                try memory.write(Array(item[s.offset..<s.offset + available]), at: GuestAddress(target))
                s.offset += available
            }
            let rest = UInt64(length) - UInt64(max(available, 0))
            if rest > 0 {
                guard let tail = GuestAddress(target).adding(UInt64(max(available, 0))) else { return false }
                try memory.fill(0, count: rest, at: tail)
            }
            return true
        } catch {
            return false
        }
    }
}
