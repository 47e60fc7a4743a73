// Reading and writing vCPU state: registers, MSRs, CPUID, LAPIC, XSAVE, XCRs, events, MP state.
import CKVM
import GuestMemory
import SystemPackage

/// One model-specific register value.
public struct MSR: Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public init(index: UInt32, value: UInt64) { self.index = index; self.value = value }
}

extension VCPU {
    public func registers() throws(KVMError) -> Registers {
        var r = kvm_regs()
        try ioctlPointer(fd, CKVM_GET_REGS, &r, .getRegisters)
        return Registers(r)
    }

    public func setRegisters(_ registers: Registers) throws(KVMError) {
        var r = registers.raw
        try ioctlPointer(fd, CKVM_SET_REGS, &r, .setRegisters)
    }

    public func specialRegisters() throws(KVMError) -> SpecialRegisters {
        var r = kvm_sregs()
        try ioctlPointer(fd, CKVM_GET_SREGS, &r, .getSpecialRegisters)
        return SpecialRegisters(r)
    }

    public func setSpecialRegisters(_ registers: SpecialRegisters) throws(KVMError) {
        var r = registers.raw
        try ioctlPointer(fd, CKVM_SET_SREGS, &r, .setSpecialRegisters)
    }

    public func fpu() throws(KVMError) -> FPUState {
        var f = kvm_fpu()
        try ioctlPointer(fd, CKVM_GET_FPU, &f, .getFPU)
        return FPUState(f)
    }

    public func setFPU(_ state: FPUState) throws(KVMError) {
        var f = state.raw
        try ioctlPointer(fd, CKVM_SET_FPU, &f, .setFPU)
    }

    /// Reads the given MSRs. KVM stops at the first one it cannot read: the result then holds fewer
    /// entries than asked for (the caller sees which ones by index).
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [MSR] {
        guard indices.count <= 4096 else { throw KVMError.invalidArgument(.getMSRs, "\(indices.count) MSRs (at most 4096)") }
        guard let buffer = unsafe ckvm_msrs_alloc(UInt32(indices.count)) else { throw KVMError.system(.getMSRs, errno: .noMemory) }
        defer { unsafe ckvm_free(buffer) }
        let entries = unsafe ckvm_msrs_entries(buffer)
        // Sound: i < indices.count, the number of entries allocated.
        for (i, index) in indices.enumerated() { unsafe (entries! + i).pointee.index = index }
        // Sound: `buffer` holds nmsrs = indices.count entries.
        let n = try ioctlRaw(fd, CKVM_GET_MSRS, UnsafeMutableRawPointer(buffer), .getMSRs)
        let count = min(Int(n), indices.count)
        // Sound: count ≤ the number of entries allocated.
        return (0..<count).map { i in unsafe MSR(index: (entries! + i).pointee.index, value: (entries! + i).pointee.data) }
    }

    /// Writes MSRs; throws if KVM refused any of them (naming the first refused index).
    public func setMSRs(_ values: [MSR]) throws(KVMError) {
        guard values.count <= 4096 else { throw KVMError.invalidArgument(.setMSRs, "\(values.count) MSRs (at most 4096)") }
        guard let buffer = unsafe ckvm_msrs_alloc(UInt32(values.count)) else { throw KVMError.system(.setMSRs, errno: .noMemory) }
        defer { unsafe ckvm_free(buffer) }
        let entries = unsafe ckvm_msrs_entries(buffer)
        for (i, msr) in values.enumerated() {
            // Sound: i < values.count, the number of entries allocated.
            unsafe (entries! + i).pointee.index = msr.index
            unsafe (entries! + i).pointee.data = msr.value
        }
        // Sound: `buffer` holds nmsrs = values.count entries.
        let n = try ioctlRaw(fd, CKVM_SET_MSRS, UnsafeMutableRawPointer(buffer), .setMSRs)
        if Int(n) < values.count {
            let refused = String(values[Int(n)].index, radix: 16)
            throw KVMError.invalidArgument(.setMSRs, "KVM refused MSR 0x\(refused)")
        }
    }

    public func setCPUID(_ table: CPUIDTable) throws(KVMError) {
        try table.withRaw(.setCPUID) { (raw) throws(KVMError) in
            // Sound: `raw` is the kvm_cpuid2 built by withRaw, alive during this closure.
            _ = try ioctlRaw(fd, CKVM_SET_CPUID2, raw, .setCPUID)
        }
    }

    /// The CPUID the vCPU was given (KVM_GET_CPUID2).
    public func cpuid() throws(KVMError) -> CPUIDTable {
        try CPUIDTable.fetch(fd: fd, request: CKVM_GET_CPUID2, capacity: 256, operation: .getCPUID)
    }

    public func lapic() throws(KVMError) -> LAPICState {
        var s = kvm_lapic_state()
        try ioctlPointer(fd, CKVM_GET_LAPIC, &s, .getLAPIC)
        return LAPICState(bytes: withUnsafeBytes(of: s.regs) { Array($0) })
    }

    public func setLAPIC(_ state: LAPICState) throws(KVMError) {
        var s = kvm_lapic_state()
        guard state.bytes.count == MemoryLayout.size(ofValue: s.regs) else {
            throw KVMError.invalidArgument(.setLAPIC, "LAPIC page of \(state.bytes.count) bytes (expected \(MemoryLayout.size(ofValue: s.regs)))")
        }
        withUnsafeMutableBytes(of: &s.regs) { raw in raw.copyBytes(from: state.bytes) }
        try ioctlPointer(fd, CKVM_SET_LAPIC, &s, .setLAPIC)
    }

    public func xsave() throws(KVMError) -> XSAVEState {
        var s = kvm_xsave()
        try ioctlPointer(fd, CKVM_GET_XSAVE, &s, .getXSAVE)
        return XSAVEState(bytes: withUnsafeBytes(of: s.region) { Array($0) })
    }

    public func setXSAVE(_ state: XSAVEState) throws(KVMError) {
        var s = kvm_xsave()
        guard state.bytes.count == MemoryLayout.size(ofValue: s.region) else {
            throw KVMError.invalidArgument(.setXSAVE, "XSAVE area of \(state.bytes.count) bytes")
        }
        withUnsafeMutableBytes(of: &s.region) { raw in raw.copyBytes(from: state.bytes) }
        try ioctlPointer(fd, CKVM_SET_XSAVE, &s, .setXSAVE)
    }

    public func xcrs() throws(KVMError) -> [ExtendedControlRegister] {
        var s = kvm_xcrs()
        try ioctlPointer(fd, CKVM_GET_XCRS, &s, .getXCRs)
        let n = min(Int(s.nr_xcrs), Int(KVM_MAX_XCRS))
        return withUnsafeBytes(of: s.xcrs) { raw in
            Array(raw.bindMemory(to: kvm_xcr.self).prefix(n)).map { ExtendedControlRegister(index: $0.xcr, value: $0.value) }
        }
    }

    public func setXCRs(_ registers: [ExtendedControlRegister]) throws(KVMError) {
        guard registers.count <= Int(KVM_MAX_XCRS) else { throw KVMError.invalidArgument(.setXCRs, "at most \(KVM_MAX_XCRS) XCRs") }
        var s = kvm_xcrs()
        s.nr_xcrs = UInt32(registers.count)
        withUnsafeMutableBytes(of: &s.xcrs) { raw in
            let slots = raw.bindMemory(to: kvm_xcr.self)
            for (i, x) in registers.enumerated() { slots[i] = kvm_xcr(xcr: x.index, reserved: 0, value: x.value) }
        }
        try ioctlPointer(fd, CKVM_SET_XCRS, &s, .setXCRs)
    }

    public func vcpuEvents() throws(KVMError) -> VCPUEvents {
        var e = kvm_vcpu_events()
        try ioctlPointer(fd, CKVM_GET_VCPU_EVENTS, &e, .getVCPUEvents)
        return VCPUEvents(bytes: withUnsafeBytes(of: e) { Array($0) })
    }

    public func setVCPUEvents(_ events: VCPUEvents) throws(KVMError) {
        var e = kvm_vcpu_events()
        guard events.bytes.count == MemoryLayout<kvm_vcpu_events>.size else {
            throw KVMError.invalidArgument(.setVCPUEvents, "\(events.bytes.count) bytes of vCPU events")
        }
        withUnsafeMutableBytes(of: &e) { raw in raw.copyBytes(from: events.bytes) }
        try ioctlPointer(fd, CKVM_SET_VCPU_EVENTS, &e, .setVCPUEvents)
    }

    public func mpState() throws(KVMError) -> MPState {
        var s = kvm_mp_state()
        try ioctlPointer(fd, CKVM_GET_MP_STATE, &s, .getMPState)
        return MPState(raw: s.mp_state)
    }

    public func setMPState(_ state: MPState) throws(KVMError) {
        var s = kvm_mp_state(mp_state: state.raw)
        try ioctlPointer(fd, CKVM_SET_MP_STATE, &s, .setMPState)
    }

    /// Translates a guest-virtual address through the vCPU's current page tables (KVM_TRANSLATE).
    /// nil when the address is not mapped.
    public func translate(_ virtualAddress: UInt64) throws(KVMError) -> GuestAddress? {
        var t = kvm_translation()
        t.linear_address = virtualAddress
        try ioctlPointer(fd, CKVM_TRANSLATE, &t, .translate)
        return t.valid != 0 ? GuestAddress(t.physical_address) : nil
    }

    /// Injects an external interrupt (only without an in-kernel irqchip).
    public func interrupt(vector: UInt32) throws(KVMError) {
        var i = kvm_interrupt(irq: vector)
        try ioctlPointer(fd, CKVM_INTERRUPT, &i, .interrupt)
    }

    public func nmi() throws(KVMError) { _ = try ioctlNone(fd, CKVM_NMI, .nmi) }
}
