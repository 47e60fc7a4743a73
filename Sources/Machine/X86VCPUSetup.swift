// Turns a loader's X86EntryState (plain values, no KVM) into KVM register state for one vCPU.
// Public so that embedders, KVMCore's tests and the benchmarks start vCPUs exactly as MicroVM does.
import BootLoader
import KVMCore

public enum X86VCPUSetup {
    public static func segment(_ s: X86Segment) -> Segment {
        Segment(base: s.base, limit: s.limit, selector: s.selector, type: s.type, present: s.present,
                dpl: s.dpl, db: s.db, s: s.s, l: s.l, g: s.g, unusable: s.unusable)
    }

    /// Loads `state` into `vcpu`, with rdi = `index` (simple guests read their vCPU index there).
    public static func apply(_ state: X86EntryState, to vcpu: VCPU, index: Int) throws(KVMError) {
        var sregs = try vcpu.specialRegisters()
        sregs.cs = segment(state.cs); sregs.ds = segment(state.ds); sregs.es = segment(state.es)
        sregs.fs = segment(state.fs); sregs.gs = segment(state.gs); sregs.ss = segment(state.ss)
        sregs.tr = segment(state.tr); sregs.ldt = segment(state.ldt)
        sregs.gdt = DescriptorTable(base: state.gdt.base.raw, limit: state.gdt.limit)
        sregs.idt = DescriptorTable(base: state.idt.base.raw, limit: state.idt.limit)
        sregs.cr0 = state.cr0; sregs.cr3 = state.cr3; sregs.cr4 = state.cr4; sregs.efer = state.efer
        try vcpu.setSpecialRegisters(sregs)

        var regs = Registers()
        regs.rip = state.rip; regs.rsp = state.rsp; regs.rflags = state.rflags
        regs.rsi = state.rsi; regs.rbx = state.rbx; regs.rax = state.rax
        regs.rdi = UInt64(index)
        try vcpu.setRegisters(regs)

        // x87 defaults as after FNINIT (FCW 0x37f). KVM_SET_FPU does not carry MXCSR on every host;
        // its reset value 0x1f80 is already what the vCPU has.
        try vcpu.setFPU(FPUState())
    }
}
