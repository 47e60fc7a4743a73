// The VM handle: memory slots, interrupt controller, PIT, irqfd/ioeventfd, MSI, routing, clock, vCPUs.
import CKVM
import GuestMemory
import Synchronization
import SystemPackage

/// Flags of a memory slot.
public struct MemorySlotFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// KVM_MEM_LOG_DIRTY_PAGES: track guest writes for `dirtyPages(slot:)`.
    public static let logDirtyPages = MemorySlotFlags(rawValue: UInt32(KVM_MEM_LOG_DIRTY_PAGES))
    /// KVM_MEM_READONLY: guest writes become MMIO exits.
    public static let readOnly = MemorySlotFlags(rawValue: UInt32(KVM_MEM_READONLY))
}

/// What the VM knows of one slot. The region object is kept here so that its host mapping outlives
/// the slot: that is what makes registering it with KVM sound.
public struct MemorySlot: Sendable {
    public let slot: UInt32
    public let guestAddress: GuestAddress
    public let region: GuestRegion
    public let flags: MemorySlotFlags
}

/// A KVM virtual machine. Thread-safe: ioctls on a VM fd may be issued from any thread, and the slot
/// table is guarded by a mutex.
public final class VirtualMachine: Sendable {
    let fd: FileDescriptor
    let vcpuMmapSize: Int
    private let slots = Mutex<[UInt32: MemorySlot]>([:])

    init(fd: FileDescriptor, vcpuMmapSize: Int) {
        self.fd = fd
        self.vcpuMmapSize = vcpuMmapSize
    }

    deinit { try? fd.close() }

    /// KVM_CHECK_EXTENSION on the VM fd (some answers depend on the VM).
    public func checkExtension(_ capability: Capability) throws(KVMError) -> Int32 {
        try ioctlValue(fd, CKVM_CHECK_EXTENSION, UInt(capability.rawValue), .checkExtension)
    }

    /// KVM_ENABLE_CAP with up to four arguments.
    public func enableCapability(_ capability: Capability, flags: UInt32 = 0, args: [UInt64] = []) throws(KVMError) {
        guard args.count <= 4 else { throw KVMError.invalidArgument(.enableCap, "at most 4 arguments") }
        var cap = kvm_enable_cap()
        cap.cap = capability.rawValue
        cap.flags = flags
        withUnsafeMutableBytes(of: &cap.args) { raw in
            for (i, a) in args.enumerated() { raw.storeBytes(of: a, toByteOffset: i * 8, as: UInt64.self) }
        }
        try ioctlPointer(fd, CKVM_ENABLE_CAP, &cap, .enableCap)
    }

    // MARK: memory slots

    /// Maps `region` into the guest at `guestAddress` (default: the region's own start) as `slot`.
    /// The VM keeps the region alive until the slot is removed or the VM goes away.
    public func mapMemory(slot: UInt32, region: GuestRegion, at guestAddress: GuestAddress? = nil,
                          flags: MemorySlotFlags = []) throws(KVMError) {
        let address = guestAddress ?? region.start
        guard address.isAligned(to: 4096) else {
            throw KVMError.invalidArgument(.setUserMemoryRegion, "guest address \(address) is not page aligned")
        }
        guard GuestRange(start: address, length: region.size) != nil else {
            throw KVMError.invalidArgument(.setUserMemoryRegion, "\(region.size) bytes at \(address) wrap past 2^64")
        }
        // Sound: the region's mapping stays valid while the MemorySlot below holds the region, and the
        // slot entry is dropped only after KVM has stopped using the memory (removeMemory).
        let host = unsafe region.hostAddress
        try setRegion(slot: slot, flags: flags.rawValue, guestAddress: address.raw, size: region.size, host: host)
        slots.withLock { $0[slot] = MemorySlot(slot: slot, guestAddress: address, region: region, flags: flags) }
    }

    /// Moves an existing slot to another guest address (same host memory).
    public func moveMemory(slot: UInt32, to guestAddress: GuestAddress) throws(KVMError) {
        guard let current = self.slot(slot) else {
            throw KVMError.invalidArgument(.setUserMemoryRegion, "slot \(slot) is not mapped")
        }
        // KVM moves a slot when only guest_phys_addr changes (flags must stay the same).
        try mapMemory(slot: slot, region: current.region, at: guestAddress, flags: current.flags)
    }

    /// Changes a slot's flags (for example turning dirty logging on or off).
    public func setFlags(_ flags: MemorySlotFlags, slot: UInt32) throws(KVMError) {
        guard let current = self.slot(slot) else {
            throw KVMError.invalidArgument(.setUserMemoryRegion, "slot \(slot) is not mapped")
        }
        try mapMemory(slot: slot, region: current.region, at: current.guestAddress, flags: flags)
    }

    /// Removes a slot; the region is released once KVM no longer maps it.
    public func removeMemory(slot: UInt32) throws(KVMError) {
        guard let current = self.slot(slot) else {
            throw KVMError.invalidArgument(.setUserMemoryRegion, "slot \(slot) is not mapped")
        }
        try setRegion(slot: slot, flags: 0, guestAddress: current.guestAddress.raw, size: 0, host: 0)
        slots.withLock { _ = $0.removeValue(forKey: slot) }
    }

    /// The slot's current mapping.
    public func slot(_ slot: UInt32) -> MemorySlot? { slots.withLock { $0[slot] } }

    private func setRegion(slot: UInt32, flags: UInt32, guestAddress: UInt64, size: UInt64, host: UInt64) throws(KVMError) {
        var region = kvm_userspace_memory_region(slot: slot, flags: flags, guest_phys_addr: guestAddress,
                                                 memory_size: size, userspace_addr: host)
        try ioctlPointer(fd, CKVM_SET_USER_MEMORY_REGION, &region, .setUserMemoryRegion)
    }

    // MARK: dirty logging

    /// The pages of `slot` the guest wrote since the last call (indices from the slot's start, sorted).
    /// KVM clears the log as it reports it (unless manual dirty-log protection was enabled, in which
    /// case `clearDirtyLog` re-arms the pages).
    public func dirtyPages(slot: UInt32) throws(KVMError) -> [UInt64] {
        guard let current = self.slot(slot) else {
            throw KVMError.invalidArgument(.getDirtyLog, "slot \(slot) is not mapped")
        }
        guard current.flags.contains(.logDirtyPages) else {
            throw KVMError.invalidArgument(.getDirtyLog, "slot \(slot) does not log dirty pages")
        }
        let pages = (current.region.size + 4095) / 4096
        var bitmap = [UInt64](repeating: 0, count: Int((pages + 63) / 64))
        var log = kvm_dirty_log()
        log.slot = slot
        let r = bitmap.withUnsafeMutableBytes { raw in
            // Sound: the bitmap has one bit per page of the slot, as KVM_GET_DIRTY_LOG requires, and
            // stays alive until the ioctl returns.
            unsafe log.dirty_bitmap = raw.baseAddress
            return unsafe ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_DIRTY_LOG, &log)
        }
        _ = try check(r, .getDirtyLog)
        var result: [UInt64] = []
        for (word, bits) in bitmap.enumerated() where bits != 0 {
            var b = bits
            while b != 0 {
                let bit = UInt64(b.trailingZeroBitCount)
                result.append(UInt64(word) * 64 + bit)
                b &= b - 1
            }
        }
        return result
    }

    /// KVM_CLEAR_DIRTY_LOG for the given pages (needs manualDirtyLogProtect2 enabled). `firstPage`
    /// must be a multiple of 64 as KVM requires.
    public func clearDirtyLog(slot: UInt32, firstPage: UInt64, pageCount: UInt32) throws(KVMError) {
        guard firstPage % 64 == 0 else { throw KVMError.invalidArgument(.clearDirtyLog, "firstPage must be a multiple of 64") }
        var bitmap = [UInt64](repeating: UInt64.max, count: Int((UInt64(pageCount) + 63) / 64))
        var log = kvm_clear_dirty_log()
        log.slot = slot
        log.first_page = firstPage
        log.num_pages = pageCount
        let r = bitmap.withUnsafeMutableBytes { raw in
            // Sound: the bitmap covers num_pages bits and outlives the ioctl.
            unsafe log.dirty_bitmap = raw.baseAddress
            return unsafe ckvm_ioctl_ptr(fd.rawValue, CKVM_CLEAR_DIRTY_LOG, &log)
        }
        _ = try check(r, .clearDirtyLog)
    }

    // MARK: interrupt controller, PIT, lines

    /// KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and local APICs. Call before creating vCPUs.
    public func createIRQChip() throws(KVMError) { _ = try ioctlNone(fd, CKVM_CREATE_IRQCHIP, .createIRQChip) }

    /// Split irqchip: local APICs in the kernel, IOAPIC and PIC in user space.
    public func enableSplitIRQChip(ioapicPins: UInt64 = 24) throws(KVMError) {
        try enableCapability(.splitIRQChip, args: [ioapicPins])
    }

    /// KVM_CREATE_PIT2; `speakerDummy` makes port 0x61 reads harmless.
    public func createPIT2(speakerDummy: Bool = true) throws(KVMError) {
        var config = kvm_pit_config()
        config.flags = speakerDummy ? UInt32(KVM_PIT_SPEAKER_DUMMY) : 0
        try ioctlPointer(fd, CKVM_CREATE_PIT2, &config, .createPIT2)
    }

    /// Sets an interrupt line (GSI) level.
    public func setIRQLine(_ irq: UInt32, high: Bool) throws(KVMError) {
        var level = kvm_irq_level()
        level.irq = irq
        level.level = high ? 1 : 0
        try ioctlPointer(fd, CKVM_IRQ_LINE, &level, .irqLine)
    }

    /// An edge on a GSI: high then low.
    public func pulseIRQLine(_ irq: UInt32) throws(KVMError) {
        try setIRQLine(irq, high: true)
        try setIRQLine(irq, high: false)
    }

    /// Sets the addresses KVM needs on Intel for real-mode emulation (three pages) and the EPT
    /// identity map (one page). Both must be outside guest RAM.
    public func setTSSAddress(_ address: GuestAddress) throws(KVMError) {
        _ = try ioctlValue(fd, CKVM_SET_TSS_ADDR, UInt(address.raw), .setTSSAddress)
    }

    public func setIdentityMapAddress(_ address: GuestAddress) throws(KVMError) {
        var a = address.raw
        try ioctlPointer(fd, CKVM_SET_IDENTITY_MAP_ADDR, &a, .setIdentityMapAddress)
    }

    // MARK: clock

    /// kvmclock's view of guest time in nanoseconds.
    public func clock() throws(KVMError) -> UInt64 {
        var data = kvm_clock_data()
        try ioctlPointer(fd, CKVM_GET_CLOCK, &data, .getClock)
        return data.clock
    }

    public func setClock(_ nanoseconds: UInt64) throws(KVMError) {
        var data = kvm_clock_data()
        data.clock = nanoseconds
        try ioctlPointer(fd, CKVM_SET_CLOCK, &data, .setClock)
    }

    // MARK: vCPUs

    /// Creates vCPU `id` (its APIC id). KVM answers EINVAL for ids past KVM_CAP_MAX_VCPU_ID and
    /// EEXIST for an id already in use.
    public func createVCPU(id: UInt32) throws(KVMError) -> VCPU {
        let raw = try ioctlValue(fd, CKVM_CREATE_VCPU, UInt(id), .createVCPU)
        let vcpuFD = FileDescriptor(rawValue: raw)
        do {
            return try VCPU(fd: vcpuFD, id: id, mmapSize: vcpuMmapSize, vm: self)
        } catch {
            try? vcpuFD.close()
            throw error
        }
    }
}
