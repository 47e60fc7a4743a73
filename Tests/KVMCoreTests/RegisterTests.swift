// vCPU state round trips: what is written is what KVM gives back (and what a guest then sees).
import BootLoader
import GuestMemory
import KVMCore
import Testing
import TestSupport

@Suite("vCPU state round trips", .enabled(if: KVMGate.available, KVMGate.reason))
struct RegisterTests {
    static let msrTSC: UInt32 = 0x10
    static let msrSysenterCS: UInt32 = 0x174
    static let msrSysenterESP: UInt32 = 0x175
    static let msrSysenterEIP: UInt32 = 0x176

    @Test func generalRegisters() throws {
        let vcpu = try KVM().createVM().createVCPU(id: 0)
        var regs = Registers()
        let values: [UInt64] = (0..<16).map { 0x1111_0000_0000_0000 &* UInt64($0 + 1) &+ UInt64($0) }
        regs.rax = values[0]; regs.rbx = values[1]; regs.rcx = values[2]; regs.rdx = values[3]
        regs.rsi = values[4]; regs.rdi = values[5]; regs.rsp = values[6]; regs.rbp = values[7]
        regs.r8 = values[8]; regs.r9 = values[9]; regs.r10 = values[10]; regs.r11 = values[11]
        regs.r12 = values[12]; regs.r13 = values[13]; regs.r14 = values[14]; regs.r15 = values[15]
        regs.rip = 0x1234_5678
        regs.rflags = 0x2 | 0x1 | 0x40 | 0x800   // CF, ZF, OF
        try vcpu.setRegisters(regs)
        #expect(try vcpu.registers() == regs)
    }

    @Test func specialRegistersOfLongMode() throws {
        let machine = try TestVM()
        let vcpu = try machine.makeVCPU(id: 0, mode: .long64)
        let sregs = try vcpu.specialRegisters()
        #expect(sregs.cr3 == FlatX86Layout.pml4Address.raw)
        #expect(sregs.cr0 & (FlatX86Setup.cr0PE | FlatX86Setup.cr0PG) == FlatX86Setup.cr0PE | FlatX86Setup.cr0PG)
        #expect(sregs.cr4 & FlatX86Setup.cr4PAE != 0)
        #expect(sregs.efer & (FlatX86Setup.eferLME | FlatX86Setup.eferLMA) == FlatX86Setup.eferLME | FlatX86Setup.eferLMA)
        #expect(sregs.cs.selector == FlatX86Layout.kernelCode64Selector && sregs.cs.l && sregs.cs.present)
        #expect(sregs.gdt == DescriptorTable(base: FlatX86Layout.gdtAddress.raw, limit: FlatX86Layout.gdtLimit))
        #expect(sregs.tr.base == FlatX86Layout.tssAddress.raw)
        // Get → set → get is the identity.
        try vcpu.setSpecialRegisters(sregs)
        #expect(try vcpu.specialRegisters() == sregs)
        // A changed field sticks.
        var changed = sregs
        changed.idt = DescriptorTable(base: 0x9000, limit: 0xFFF)
        changed.cr2 = 0xDEAD_B000
        try vcpu.setSpecialRegisters(changed)
        #expect(try vcpu.specialRegisters() == changed)
        // And the page tables are live: KVM translates through them.
        #expect(try vcpu.translate(0x20_1234) == GuestAddress(0x20_1234))
    }

    @Test func fpuState() throws {
        let machine = try TestVM()
        let vcpu = try machine.vm.createVCPU(id: 0)
        // With KVM's CPUID the guest has SSE state, which KVM_GET/SET_XSAVE then carry.
        try vcpu.setCPUID(machine.supportedCPUID)
        var fpu = FPUState()
        fpu.fcw = 0x027F
        for i in 0..<fpu.xmm.count { fpu.xmm[i] = UInt8(truncatingIfNeeded: i &* 7 &+ 3) }
        for i in 0..<10 { fpu.fpr[16 + i] = UInt8(0xA0 + i) }   // ST1's 80 bits
        fpu.ftwx = 0x02
        fpu.mxcsr = 0x7F80   // round toward zero: KVM_SET_FPU ignores it (see below)
        try vcpu.setFPU(fpu)
        let back = try vcpu.fpu()
        #expect(back.fcw == 0x027F)
        #expect(back.xmm == fpu.xmm)
        #expect(Array(back.fpr[16..<26]) == Array(fpu.fpr[16..<26]))
        #expect(back.ftwx == 0x02)
        // KVM_GET_FPU / KVM_SET_FPU do not carry MXCSR (the kernel copies every field but that
        // one): it reads back 0 and the real MXCSR, in the XSAVE legacy area at byte 24, keeps its
        // reset value 0x1F80. MXCSR is set through XSAVE, with the SSE bit in XSTATE_BV (byte 512).
        #expect(back.mxcsr == 0)
        var xsave = try vcpu.xsave()
        #expect(Self.mxcsr(xsave) == 0x1F80)
        for i in 0..<4 { xsave.bytes[24 + i] = UInt8(truncatingIfNeeded: UInt32(0x7F80) >> (8 * UInt32(i))) }
        xsave.bytes[512] |= 0x3   // x87 and SSE state present
        try vcpu.setXSAVE(xsave)
        #expect(Self.mxcsr(try vcpu.xsave()) == 0x7F80)
    }

    static func mxcsr(_ state: XSAVEState) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(state.bytes[24 + $1]) << (8 * $1) }
    }

    @Test func msrs() throws {
        let vcpu = try KVM().createVM().createVCPU(id: 0)
        let tsc: UInt64 = 0x10_0000_0000
        try vcpu.setMSRs([MSR(index: Self.msrTSC, value: tsc), MSR(index: Self.msrSysenterCS, value: 0x10),
                          MSR(index: Self.msrSysenterESP, value: 0xFFFF_8000_0000_1000),
                          MSR(index: Self.msrSysenterEIP, value: 0xFFFF_8000_0000_2000)])
        let back = try vcpu.msrs([Self.msrSysenterCS, Self.msrSysenterESP, Self.msrSysenterEIP, Self.msrTSC])
        #expect(back.map(\.index) == [Self.msrSysenterCS, Self.msrSysenterESP, Self.msrSysenterEIP, Self.msrTSC])
        #expect(back[0].value == 0x10)
        #expect(back[1].value == 0xFFFF_8000_0000_1000)
        #expect(back[2].value == 0xFFFF_8000_0000_2000)
        // The TSC is readable and counts. (Whether a host write of it sticks is KVM's TSC-sync
        // policy; on the project's host a first write to a fresh VM reads back as the host TSC.)
        let tsc1 = try #require(vcpu.msrs([Self.msrTSC]).first?.value)
        let tsc2 = try #require(vcpu.msrs([Self.msrTSC]).first?.value)
        #expect(tsc1 > 0 && tsc2 > tsc1, "TSC \(tsc1) then \(tsc2)")
        // An MSR KVM does not know is refused, naming it.
        #expect {
            try vcpu.setMSRs([MSR(index: 0x1234_5678, value: 1)])
        } throws: { error in
            guard case let .invalidArgument(.setMSRs, why) = error as? KVMError else { return false }
            return why.contains("12345678")
        }
        // Reading it stops there: only the entries before it come back.
        let partial = try vcpu.msrs([Self.msrSysenterCS, 0x1234_5678, Self.msrSysenterESP])
        #expect(partial == [MSR(index: Self.msrSysenterCS, value: 0x10)])
    }

    @Test func lapicAfterCreateIRQChip() throws {
        let vm = try KVM().createVM()
        try vm.createIRQChip()
        let vcpus = try (0..<2).map { try vm.createVCPU(id: UInt32($0)) }
        for (i, vcpu) in vcpus.enumerated() {
            let lapic = try vcpu.lapic()
            #expect(lapic.bytes.count == 1024)
            #expect(lapic.register(at: 0x20) == UInt32(i) << 24, "xAPIC ID register of vCPU \(i)")
            #expect((lapic.register(at: 0x30) ?? 0) & 0xFF == 0x14, "APIC version of the in-kernel LAPIC")
        }
        var lapic = try vcpus[1].lapic()
        lapic.setRegister(0x20, at: 0x80)       // TPR
        lapic.setRegister(0x1FF, at: 0xF0)      // SVR: enabled, spurious vector 0xFF
        try vcpus[1].setLAPIC(lapic)
        let back = try vcpus[1].lapic()
        #expect(back.register(at: 0x80) == 0x20)
        #expect(back.register(at: 0xF0) == 0x1FF)
        #expect(try vcpus[0].lapic().register(at: 0x80) == 0, "vCPU 0's LAPIC is separate")
        var short = back
        short.bytes = [0, 1, 2]
        #expect(throws: KVMError.self) { try vcpus[1].setLAPIC(short) }
    }

    @Test func xcrs() throws {
        let vcpu = try KVM().createVM().createVCPU(id: 0)
        let xcrs = try vcpu.xcrs()
        let xcr0 = try #require(xcrs.first { $0.index == 0 })
        #expect(xcr0.value & 1 == 1, "x87 state is always enabled in XCR0")
        try vcpu.setXCRs([ExtendedControlRegister(index: 0, value: 1)])
        #expect(try vcpu.xcrs().first { $0.index == 0 }?.value == 1)
    }

    @Test func vcpuEvents() throws {
        let vcpu = try KVM().createVM().createVCPU(id: 0)
        let events = try vcpu.vcpuEvents()
        #expect(!events.bytes.isEmpty)
        try vcpu.setVCPUEvents(events)
        #expect(try vcpu.vcpuEvents() == events)
        var short = events
        short.bytes = [1]
        #expect(throws: KVMError.self) { try vcpu.setVCPUEvents(short) }
    }

    @Test func mpState() throws {
        let vm = try KVM().createVM()
        try vm.createIRQChip()
        let bsp = try vm.createVCPU(id: 0)
        let ap = try vm.createVCPU(id: 1)
        // With the in-kernel LAPIC, vCPU 0 is the BSP (runnable) and the others wait for INIT/SIPI.
        #expect(try bsp.mpState() == .runnable)
        #expect(try ap.mpState() == .uninitialized)
        try ap.setMPState(.runnable)
        #expect(try ap.mpState() == .runnable)
        try bsp.setMPState(.halted)
        #expect(try bsp.mpState() == .halted)
    }

    @Test func cpuidRoundTripAndWhatTheGuestSees() throws {
        let machine = try TestVM()
        _ = try machine.load(.smpID)
        let vcpu = try machine.makeVCPU(id: 0, mode: .long64, index: 0)
        let set = TestVM.cpuid(machine.supportedCPUID, apicID: 0)
        let back = try vcpu.cpuid()
        #expect(Set(back.entries.map { "\($0.function)/\($0.index)" }) == Set(set.entries.map { "\($0.function)/\($0.index)" }))
        #expect(back[0] == set[0])
    }
}
