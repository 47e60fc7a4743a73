// The one-line diagnosis for a guest that died: exit reason, vCPU, RIP, CPL and instruction bytes.
import GuestMemory
import KVMCore

extension MicroVM {
    func diagnose(_ vcpu: VCPU, index: Int, exit: VCPUExit) -> String {
        var parts = ["vcpu\(index): \(exit.name)"]
        switch exit {
        case let .internalError(sub, data, _): parts.append("suberror \(sub), data [\(data.map { hex($0) }.joined(separator: " "))]")
        case let .failEntry(reason, cpu): parts.append("hardware reason \(hex(reason)) on cpu \(cpu)")
        case let .unknown(reason, hw): parts.append("reason \(reason), hardware reason \(hex(hw))")
        case let .systemEvent(event, data): parts.append("event \(event), data \(data.map { hex($0) })")
        case let .exception(n, code): parts.append("exception \(n), error code \(hex(UInt64(code)))")
        default: break
        }
        guard let regs = try? vcpu.registers() else { return parts.joined(separator: ", ") }
        let sregs = try? vcpu.specialRegisters()
        parts.append("RIP \(hex(regs.rip))")
        if let sregs { parts.append("CPL \(sregs.cs.dpl)") }
        var bytes: [UInt8] = []
        if case let .internalError(_, _, fromKVM) = exit, !fromKVM.isEmpty { bytes = fromKVM }
        if bytes.isEmpty { bytes = instructionBytes(vcpu, rip: regs.rip, sregs: sregs) }
        parts.append(bytes.isEmpty ? "instruction bytes unavailable"
                                   : "instruction bytes \(bytes.map { byteHex($0) }.joined(separator: " "))")
        return parts.joined(separator: ", ")
    }

    /// Up to 15 bytes at RIP, read through the vCPU's translation (paging or segmentation). A page
    /// boundary or the end of RAM shortens the result rather than failing.
    private func instructionBytes(_ vcpu: VCPU, rip: UInt64, sregs: SpecialRegisters?) -> [UInt8] {
        let linear = (sregs?.efer ?? 0) & (1 << 10) != 0 ? rip : (sregs?.cs.base ?? 0) &+ rip
        guard let physical = (try? vcpu.translate(linear)) ?? nil else { return [] }
        let toPageEnd = 4096 - Int(physical.raw & 0xFFF)
        for count in stride(from: min(15, toPageEnd), through: 1, by: -1) {
            if let bytes = try? memory.read(count: count, at: physical) { return bytes }
        }
        return []
    }
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
func byteHex(_ b: UInt8) -> String { b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
