// Bounds-checked byte, integer, struct and atomic accessors. Every accessor resolves the whole
// access first (GuestMemoryMap.resolve) and only then copies, so a failing access has no effect;
// every write marks the pages it touched for dirty tracking.
import Atomics

extension GuestMemoryMap {
    // MARK: - Bytes

    /// Fills `buffer` (all `buffer.count` bytes) from guest memory at `at`.
    public func read(into buffer: inout [UInt8], at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(buffer.count)) else { return }
        // Sound: `destination` is the array's storage, valid for the closure; span fits it.
        unsafe buffer.withUnsafeMutableBytes { destination in
            unsafe copyOut(span, into: destination)
        }
    }

    /// `count` bytes of guest memory at `at`.
    public func read(count: Int, at: GuestAddress) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else {
            throw .invalidRange(start: at, length: UInt64(truncatingIfNeeded: count))
        }
        // Validate before allocating: a guest-supplied count must not make the VMM allocate much.
        guard let span = try resolve(at, length: UInt64(count)) else { return [] }
        // Sound: every byte of the new array is written by copyOut before the closure returns
        // (the span covers exactly `count` bytes), so no uninitialized byte is ever read.
        return unsafe [UInt8](unsafeUninitializedCapacity: count) { destination, initialized in
            unsafe copyOut(span, into: UnsafeMutableRawBufferPointer(destination))
            initialized = count
        }
    }

    /// Copies guest memory into caller-owned memory (e.g. a Data's storage) without an
    /// intermediate array. `buffer.count` bytes are read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(buffer.count)) else { return }
        unsafe copyOut(span, into: buffer)  // Sound: caller guarantees buffer is valid and writable.
    }

    public func write(_ bytes: [UInt8], at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(bytes.count)) else { return }
        // Sound: `source` is the array's storage, valid for the closure; span fits it.
        unsafe bytes.withUnsafeBytes { source in
            unsafe copyIn(span, from: source)
        }
    }

    /// For Data and array slices: copies `bytes.count` bytes from caller-owned memory.
    public func write(_ bytes: UnsafeRawBufferPointer, at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(bytes.count)) else { return }
        unsafe copyIn(span, from: bytes)  // Sound: caller guarantees bytes is valid and readable.
    }

    /// Sets `count` bytes at `at` to `byte` (e.g. zeroing a BSS or a boot-parameter page).
    public func fill(_ byte: UInt8, count: UInt64, at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: count) else { return }
        forEachChunk(span) { region, offset, chunk, _ in
            region.fill(offset: offset, count: chunk, byte: byte)
            region.markDirty(offset: UInt64(offset), count: UInt64(chunk))
        }
    }

    // MARK: - Little-endian integers

    public func load<T: FixedWidthInteger>(_ type: T.Type, at: GuestAddress) throws(GuestMemoryError) -> T {
        var value: T = 0
        guard let span = try resolve(at, length: UInt64(MemoryLayout<T>.size)) else { return value }
        // Sound: `destination` covers exactly the bytes of the local `value`, and any bit pattern
        // is a valid FixedWidthInteger.
        unsafe withUnsafeMutableBytes(of: &value) { destination in
            unsafe copyOut(span, into: destination)
        }
        return T(littleEndian: value)
    }

    public func store<T: FixedWidthInteger>(_ value: T, at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(MemoryLayout<T>.size)) else { return }
        // Sound: `source` covers exactly the bytes of the local little-endian copy.
        unsafe withUnsafeBytes(of: value.littleEndian) { source in
            unsafe copyIn(span, from: source)
        }
    }

    // MARK: - Plain C structs

    /// Copies `MemoryLayout<T>.size` bytes out of guest memory. T should be a plain C struct of
    /// integers: any bit pattern must be a valid T (no Bool, enums or pointers), since the guest
    /// controls every byte. The caller validates the copy.
    public func loadStruct<T: BitwiseCopyable>(_ type: T.Type, at: GuestAddress) throws(GuestMemoryError) -> T {
        let size = MemoryLayout<T>.size
        let span = try resolve(at, length: UInt64(size))
        // A scratch buffer of at least one byte, so even a zero-sized T has an address to load from.
        // Sound: the buffer is fully initialized (memset below, then the guest bytes) before the
        // unaligned load, and T is BitwiseCopyable so loading it from raw bytes is defined.
        return unsafe withUnsafeTemporaryAllocation(byteCount: max(size, 1), alignment: MemoryLayout<T>.alignment) { scratch in
            unsafe scratch.initializeMemory(as: UInt8.self, repeating: 0)
            if let span { unsafe copyOut(span, into: scratch) }
            return unsafe scratch.loadUnaligned(as: T.self)
        }
    }

    /// Copies `MemoryLayout<T>.size` bytes of `value` (padding included) into guest memory.
    public func storeStruct<T: BitwiseCopyable>(_ value: T, at: GuestAddress) throws(GuestMemoryError) {
        guard let span = try resolve(at, length: UInt64(MemoryLayout<T>.size)) else { return }
        // Sound: `source` covers exactly the bytes of the local copy of `value`.
        unsafe withUnsafeBytes(of: value) { source in
            unsafe copyIn(span, from: source)
        }
    }

    // MARK: - Virtqueue indices

    /// Acquire-load of a little-endian UInt16: later reads of the ring see what the guest wrote
    /// before it published this index. Requires 2-byte alignment and both bytes in one region.
    public func atomicLoadUInt16(at: GuestAddress) throws(GuestMemoryError) -> UInt16 {
        let (region, offset) = try atomicLocation(at)
        // The view is used immediately while `region` (and so its mapping) is alive.
        let raw = region.atomicUInt16(offset: offset).load(ordering: .acquiring)
        return UInt16(littleEndian: raw)
    }

    /// Release-store of a little-endian UInt16: the guest sees every earlier write (used-ring
    /// entries) before it sees this index.
    public func atomicStoreUInt16(_ v: UInt16, at: GuestAddress) throws(GuestMemoryError) {
        let (region, offset) = try atomicLocation(at)
        // The view is used immediately while `region` (and so its mapping) is alive.
        region.atomicUInt16(offset: offset).store(v.littleEndian, ordering: .releasing)
        region.markDirty(offset: UInt64(offset), count: 2)
    }

    /// Alignment first, then both bytes inside one region (an atomic cannot span two mappings).
    private func atomicLocation(_ address: GuestAddress) throws(GuestMemoryError) -> (GuestRegion, Int) {
        guard address.isAligned(to: 2) else {
            throw .misaligned(address: address, alignment: 2)
        }
        guard GuestRange(start: address, length: 2) != nil else {
            throw .invalidRange(start: address, length: 2)
        }
        guard let region = region(containing: address),
              let offset = address.offset(from: region.start),
              offset <= region.size - 2  // sizes are page multiples, so size ≥ 2
        else {
            throw .outOfBounds(address: address, length: 2)
        }
        return (region, Int(offset))
    }

    // MARK: - Copy loops over a validated span

    private func copyOut(_ span: Span, into destination: UnsafeMutableRawBufferPointer) {
        forEachChunk(span) { region, offset, count, done in
            // Sound: [done, done + count) is inside destination, whose count equals span.length.
            unsafe region.copyOut(offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: destination[done..<(done + count)]))
        }
    }

    private func copyIn(_ span: Span, from source: UnsafeRawBufferPointer) {
        forEachChunk(span) { region, offset, count, done in
            // Sound: [done, done + count) is inside source, whose count equals span.length.
            unsafe region.copyIn(offset: offset, from: UnsafeRawBufferPointer(rebasing: source[done..<(done + count)]))
            region.markDirty(offset: UInt64(offset), count: UInt64(count))
        }
    }
}
