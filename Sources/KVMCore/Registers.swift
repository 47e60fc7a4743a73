// Register files as Swift values (no C types in KVMCore's public API).
import CKVM

/// General-purpose registers, RIP and RFLAGS (kvm_regs).
public struct Registers: Equatable, Sendable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// Bit 1 is always set on x86.
    public var rflags: UInt64 = 0x2

    public init() {}

    init(_ r: kvm_regs) {
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx; rsi = r.rsi; rdi = r.rdi; rsp = r.rsp; rbp = r.rbp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11; r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip; rflags = r.rflags
    }

    var raw: kvm_regs {
        kvm_regs(rax: rax, rbx: rbx, rcx: rcx, rdx: rdx, rsi: rsi, rdi: rdi, rsp: rsp, rbp: rbp,
                 r8: r8, r9: r9, r10: r10, r11: r11, r12: r12, r13: r13, r14: r14, r15: r15,
                 rip: rip, rflags: rflags)
    }
}

/// A segment register with its hidden descriptor cache (kvm_segment).
public struct Segment: Equatable, Sendable {
    public var base: UInt64 = 0
    public var limit: UInt32 = 0
    public var selector: UInt16 = 0
    public var type: UInt8 = 0
    public var present = false, dpl: UInt8 = 0, db = false, s = false, l = false, g = false, avl = false
    public var unusable = false

    public init(base: UInt64 = 0, limit: UInt32 = 0, selector: UInt16 = 0, type: UInt8 = 0, present: Bool = false,
                dpl: UInt8 = 0, db: Bool = false, s: Bool = false, l: Bool = false, g: Bool = false,
                avl: Bool = false, unusable: Bool = false) {
        self.base = base; self.limit = limit; self.selector = selector; self.type = type; self.present = present
        self.dpl = dpl; self.db = db; self.s = s; self.l = l; self.g = g; self.avl = avl; self.unusable = unusable
    }

    init(_ s: kvm_segment) {
        self.init(base: s.base, limit: s.limit, selector: s.selector, type: s.type, present: s.present != 0,
                  dpl: s.dpl, db: s.db != 0, s: s.s != 0, l: s.l != 0, g: s.g != 0, avl: s.avl != 0,
                  unusable: s.unusable != 0)
    }

    var raw: kvm_segment {
        kvm_segment(base: base, limit: limit, selector: selector, type: type, present: present ? 1 : 0,
                    dpl: dpl, db: db ? 1 : 0, s: s ? 1 : 0, l: l ? 1 : 0, g: g ? 1 : 0, avl: avl ? 1 : 0,
                    unusable: unusable ? 1 : 0, padding: 0)
    }
}

/// GDTR / IDTR.
public struct DescriptorTable: Equatable, Sendable {
    public var base: UInt64
    public var limit: UInt16
    public init(base: UInt64 = 0, limit: UInt16 = 0) { self.base = base; self.limit = limit }
}

/// Segment, control and descriptor-table registers (kvm_sregs).
public struct SpecialRegisters: Equatable, Sendable {
    public var cs = Segment(), ds = Segment(), es = Segment(), fs = Segment(), gs = Segment(), ss = Segment()
    public var tr = Segment(), ldt = Segment()
    public var gdt = DescriptorTable(), idt = DescriptorTable()
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0
    /// Pending external interrupts (bit n = vector n), 256 bits.
    public var interruptBitmap: [UInt64] = [0, 0, 0, 0]

    public init() {}

    init(_ r: kvm_sregs) {
        cs = Segment(r.cs); ds = Segment(r.ds); es = Segment(r.es); fs = Segment(r.fs); gs = Segment(r.gs)
        ss = Segment(r.ss); tr = Segment(r.tr); ldt = Segment(r.ldt)
        gdt = DescriptorTable(base: r.gdt.base, limit: r.gdt.limit)
        idt = DescriptorTable(base: r.idt.base, limit: r.idt.limit)
        cr0 = r.cr0; cr2 = r.cr2; cr3 = r.cr3; cr4 = r.cr4; cr8 = r.cr8; efer = r.efer; apicBase = r.apic_base
        interruptBitmap = withUnsafeBytes(of: r.interrupt_bitmap) { Array($0.bindMemory(to: UInt64.self)) }
    }

    var raw: kvm_sregs {
        var r = kvm_sregs()
        r.cs = cs.raw; r.ds = ds.raw; r.es = es.raw; r.fs = fs.raw; r.gs = gs.raw; r.ss = ss.raw
        r.tr = tr.raw; r.ldt = ldt.raw
        r.gdt.base = gdt.base; r.gdt.limit = gdt.limit
        r.idt.base = idt.base; r.idt.limit = idt.limit
        r.cr0 = cr0; r.cr2 = cr2; r.cr3 = cr3; r.cr4 = cr4; r.cr8 = cr8; r.efer = efer; r.apic_base = apicBase
        withUnsafeMutableBytes(of: &r.interrupt_bitmap) { raw in
            for (i, w) in interruptBitmap.prefix(4).enumerated() { raw.storeBytes(of: w, toByteOffset: i * 8, as: UInt64.self) }
        }
        return r
    }
}

/// x87/SSE state (kvm_fpu).
public struct FPUState: Equatable, Sendable {
    /// ST0-ST7, 16 bytes each (80-bit values, padded).
    public var fpr: [UInt8] = Array(repeating: 0, count: 128)
    public var fcw: UInt16 = 0x37F
    public var fsw: UInt16 = 0
    public var ftwx: UInt8 = 0
    public var lastOpcode: UInt16 = 0
    public var lastIP: UInt64 = 0
    public var lastDP: UInt64 = 0
    /// XMM0-XMM15, 16 bytes each.
    public var xmm: [UInt8] = Array(repeating: 0, count: 256)
    public var mxcsr: UInt32 = 0x1F80

    public init() {}

    init(_ f: kvm_fpu) {
        fpr = withUnsafeBytes(of: f.fpr) { Array($0) }
        fcw = f.fcw; fsw = f.fsw; ftwx = f.ftwx; lastOpcode = f.last_opcode; lastIP = f.last_ip; lastDP = f.last_dp
        xmm = withUnsafeBytes(of: f.xmm) { Array($0) }
        mxcsr = f.mxcsr
    }

    var raw: kvm_fpu {
        var f = kvm_fpu()
        withUnsafeMutableBytes(of: &f.fpr) { raw in for i in 0..<min(128, fpr.count) { raw[i] = fpr[i] } }
        f.fcw = fcw; f.fsw = fsw; f.ftwx = ftwx; f.last_opcode = lastOpcode; f.last_ip = lastIP; f.last_dp = lastDP
        withUnsafeMutableBytes(of: &f.xmm) { raw in for i in 0..<min(256, xmm.count) { raw[i] = xmm[i] } }
        f.mxcsr = mxcsr
        return f
    }
}

/// vCPU multiprocessing state (KVM_GET/SET_MP_STATE).
public enum MPState: Equatable, Sendable {
    case runnable, uninitialized, initReceived, halted, sipiReceived, stopped
    case other(UInt32)

    init(raw: UInt32) {
        switch raw {
        case UInt32(KVM_MP_STATE_RUNNABLE): self = .runnable
        case UInt32(KVM_MP_STATE_UNINITIALIZED): self = .uninitialized
        case UInt32(KVM_MP_STATE_INIT_RECEIVED): self = .initReceived
        case UInt32(KVM_MP_STATE_HALTED): self = .halted
        case UInt32(KVM_MP_STATE_SIPI_RECEIVED): self = .sipiReceived
        case UInt32(KVM_MP_STATE_STOPPED): self = .stopped
        default: self = .other(raw)
        }
    }

    var raw: UInt32 {
        switch self {
        case .runnable: UInt32(KVM_MP_STATE_RUNNABLE)
        case .uninitialized: UInt32(KVM_MP_STATE_UNINITIALIZED)
        case .initReceived: UInt32(KVM_MP_STATE_INIT_RECEIVED)
        case .halted: UInt32(KVM_MP_STATE_HALTED)
        case .sipiReceived: UInt32(KVM_MP_STATE_SIPI_RECEIVED)
        case .stopped: UInt32(KVM_MP_STATE_STOPPED)
        case let .other(r): r
        }
    }
}

/// Opaque kernel state blobs, kept as bytes for save/restore (LAPIC page, XSAVE area, vCPU events).
public struct LAPICState: Equatable, Sendable {
    /// The 1 KiB APIC register page.
    public var bytes: [UInt8]

    /// A 32-bit APIC register at `offset` (e.g. 0x20 = ID, 0x350 = LVT LINT0).
    public func register(at offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    public mutating func setRegister(_ value: UInt32, at offset: Int) {
        guard offset >= 0, offset + 4 <= bytes.count else { return }
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }
}

public struct XSAVEState: Equatable, Sendable { public var bytes: [UInt8] }
public struct VCPUEvents: Equatable, Sendable { public var bytes: [UInt8] }

/// XCR0 and friends.
public struct ExtendedControlRegister: Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public init(index: UInt32, value: UInt64) { self.index = index; self.value = value }
}
