// CPU templates: named, documented changes to the CPUID that KVM supports, chosen by the user
// (`--cpu-template`). Nothing host-specific is applied unless a template asks for it.
import KVMCore

public struct CPUIDBitChange: Sendable, Equatable {
    public enum Register: Sendable { case eax, ebx, ecx, edx }
    public let function: UInt32
    public let index: UInt32
    public let register: Register
    public let bit: UInt32
    public let why: String
}

public struct CPUTemplate: Sendable, Equatable {
    public let name: String
    public let summary: String
    /// CPUID bits cleared in every vCPU.
    public let clearedBits: [CPUIDBitChange]
    /// Text the guest kernel's command line should carry for features CPUID masking cannot hide on
    /// this host (KVM_SET_CPUID2 is not obeyed there for every bit); the VMM appends it for Linux.
    public let kernelArguments: [String]

    /// KVM's supported CPUID as it is (with per-vCPU topology): right for hardware virtualization.
    public static let host = CPUTemplate(name: "host", summary: "what KVM supports, unchanged", clearedBits: [], kernelArguments: [])

    /// For nested KVM whose CPL0 instruction emulator cannot execute some instructions (the project's
    /// development and CI machines, see docs): hide XSAVE (xsave/xrstor), CX16 (cmpxchg16b),
    /// POPCNT and SMAP/SMEP-era instructions (clac/stac) and MONITOR.
    public static let nestedEmulator = CPUTemplate(
        name: "nested-emulator",
        summary: "mask instructions a nested CPL0 emulator cannot execute (xsave, cmpxchg16b, popcnt, clac)",
        clearedBits: [
            .init(function: 1, index: 0, register: .ecx, bit: 26, why: "XSAVE: xsave/xrstor fail in the emulator"),
            .init(function: 1, index: 0, register: .ecx, bit: 27, why: "OSXSAVE follows XSAVE"),
            .init(function: 1, index: 0, register: .ecx, bit: 13, why: "CX16: cmpxchg16b fails in the emulator"),
            .init(function: 1, index: 0, register: .ecx, bit: 23, why: "POPCNT fails in the emulator"),
            .init(function: 1, index: 0, register: .ecx, bit: 3, why: "MONITOR/MWAIT are not emulated"),
            .init(function: 7, index: 0, register: .ebx, bit: 20, why: "SMAP: clac/stac fail in the emulator"),
            .init(function: 7, index: 0, register: .ebx, bit: 7, why: "SMEP goes with SMAP here"),
            .init(function: 0xD, index: 0, register: .eax, bit: 2, why: "no AVX state without XSAVE"),
        ],
        // CPUID masking is not obeyed on that host for POPCNT and XSAVE (see kvm-host-notes).
        kernelArguments: ["noxsave", "clearcpuid=popcnt,smap"]
    )

    public static let all: [CPUTemplate] = [.host, .nestedEmulator]

    public static func named(_ name: String) -> CPUTemplate? { all.first { $0.name == name } }

    /// Applies the template and per-vCPU topology to KVM's supported CPUID.
    public func cpuid(from supported: CPUIDTable, apicID: UInt32, vcpuCount: Int) -> CPUIDTable {
        var table = supported
        for i in table.entries.indices {
            var e = table.entries[i]
            switch e.function {
            case 1:
                // EBX[31:24] initial APIC id, EBX[23:16] logical processors per package; HTT when > 1.
                e.ebx = (e.ebx & 0x0000_FFFF) | (apicID << 24) | (UInt32(min(vcpuCount, 255)) << 16)
                if vcpuCount > 1 { e.edx |= 1 << 28 } else { e.edx &= ~(1 << 28) }
            case 0xB, 0x1F:
                // x2APIC topology: EDX is this vCPU's x2APIC id on every sub-leaf.
                e.edx = apicID
            default: break
            }
            for change in clearedBits where change.function == e.function && change.index == e.index {
                let mask = ~(UInt32(1) << change.bit)
                switch change.register {
                case .eax: e.eax &= mask
                case .ebx: e.ebx &= mask
                case .ecx: e.ecx &= mask
                case .edx: e.edx &= mask
                }
            }
            table.entries[i] = e
        }
        return table
    }
}
