// The CPU state a loader asks for at the guest's first instruction, in plain values.
// BootLoader knows nothing of KVM: Machine turns this into KVM_SET_SREGS / KVM_SET_REGS.
import GuestMemory

/// One segment register as the CPU caches it (the hidden part included), as KVM's kvm_segment.
public struct X86Segment: Equatable, Sendable {
    public var base: UInt64
    public var limit: UInt32
    public var selector: UInt16
    /// Type field of the descriptor (e.g. 0xB = execute/read accessed code, 0x3 = read/write accessed data).
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    /// Default operation size (1 = 32-bit), must be 0 for 64-bit code.
    public var db: Bool
    /// 1 for code/data, 0 for system segments (TSS, LDT).
    public var s: Bool
    /// 64-bit code segment.
    public var l: Bool
    /// Limit in 4 KiB units.
    public var g: Bool
    public var unusable: Bool

    public init(base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, present: Bool = true,
                dpl: UInt8 = 0, db: Bool = false, s: Bool = true, l: Bool = false, g: Bool = false,
                unusable: Bool = false) {
        self.base = base; self.limit = limit; self.selector = selector; self.type = type
        self.present = present; self.dpl = dpl; self.db = db; self.s = s; self.l = l; self.g = g
        self.unusable = unusable
    }

    /// Real-mode segment: base = selector * 16, 64 KiB limit.
    public static func real(selector: UInt16, code: Bool) -> X86Segment {
        X86Segment(base: UInt64(selector) &* 16, limit: 0xFFFF, selector: selector, type: code ? 0xB : 0x3)
    }
}

/// A descriptor-table register (GDTR / IDTR).
public struct X86TableRegister: Equatable, Sendable {
    public var base: GuestAddress
    public var limit: UInt16
    public init(base: GuestAddress, limit: UInt16) { self.base = base; self.limit = limit }
}

/// Everything a vCPU needs at entry. Registers not named here start at zero.
public struct X86EntryState: Equatable, Sendable {
    public enum Mode: String, Sendable, CaseIterable { case real, protected32, long64 }

    public var mode: Mode
    public var rip: UInt64
    public var rsp: UInt64 = 0
    public var rflags: UInt64 = 0x2
    /// Boot protocols pass a pointer in rsi (Linux boot_params), rbx (PVH start_info, multiboot info).
    public var rsi: UInt64 = 0
    public var rbx: UInt64 = 0
    public var rax: UInt64 = 0
    /// Per-vCPU argument for test guests (smp_id reads its vCPU index here); first argument register.
    public var rdi: UInt64 = 0

    public var cr0: UInt64 = 0x6000_0010   // CD | NW | ET: the x86 reset value
    public var cr3: UInt64 = 0
    public var cr4: UInt64 = 0
    public var efer: UInt64 = 0

    public var cs: X86Segment
    public var ds: X86Segment
    public var es: X86Segment
    public var fs: X86Segment
    public var gs: X86Segment
    public var ss: X86Segment
    public var tr: X86Segment
    public var ldt: X86Segment
    public var gdt: X86TableRegister
    public var idt: X86TableRegister

    public init(mode: Mode, rip: UInt64, cs: X86Segment, data: X86Segment, tr: X86Segment,
                gdt: X86TableRegister, idt: X86TableRegister = X86TableRegister(base: GuestAddress(0), limit: 0xFFFF)) {
        self.mode = mode; self.rip = rip; self.cs = cs
        self.ds = data; self.es = data; self.fs = data; self.gs = data; self.ss = data
        self.tr = tr
        self.ldt = X86Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x2, s: false, unusable: true)
        self.gdt = gdt; self.idt = idt
    }
}
