// Native CPL3 guest code, and several vCPUs each on its own thread.
import BootLoader
import GuestMemory
import KVMCore
import Synchronization
import Testing
import TestSupport

@Suite("CPL3 and SMP guests", .enabled(if: KVMGate.available, KVMGate.reason))
struct CPL3AndSMPTests {
    @Test func cpl3GuestReportsCPL3() throws {
        let (_, vcpu) = try TestVM.forProgram(.cpl3IOPL3)
        let result = try vcpu.runSerialGuest()
        #expect(result.text == "cpl3\n")
        #expect(result.debugExit?.size == 1)
        #expect(result.debugExit?.value == 3, "the guest's own CS & 3")
        // KVM's view agrees: user code and stack segments, DPL 3. (IOPL is not asserted: on the
        // project's host the CPL0 part is emulated and KVM then reports RFLAGS 0x6, IOPL 0, at the
        // exit, although the guest's iretq frame had IOPL 3 and its port writes did not fault.)
        let sregs = try vcpu.specialRegisters()
        #expect(sregs.cs.selector == FlatX86Layout.userCode64Selector)
        #expect(sregs.cs.dpl == 3)
        #expect(sregs.ss.selector == FlatX86Layout.userDataSelector)
        let regs = try vcpu.registers()
        #expect(regs.rcx & 0xFFFF_FFFF == 0, "the 1,000,000-iteration loop ran to zero")
    }

    @Test func cpl3GuestEnteredDirectlyAtCPL3() throws {
        let machine = try TestVM()
        _ = try machine.load(.cpl3IOPL3)
        let vcpu = try machine.makeVCPU(id: 0, state: FlatX86Setup.long64User(entry: FlatX86Layout.imageLoadAddress))
        let result = try vcpu.runSerialGuest()
        #expect(result.text == "cpl3\n")
        #expect(result.debugExit?.value == 3)
    }

    @Test(arguments: [2, 4])
    func eachVCPUOnItsOwnThreadReportsItsIndex(count: Int) async throws {
        let machine = try TestVM()
        _ = try machine.load(.smpID)
        let vcpus = try (0..<count).map { try machine.makeVCPU(id: UInt32($0), mode: .long64) }
        // Each thread reports (its own thread name's index, value on 0x520, value on 0x524).
        let reports = try await withThrowingTaskGroup(of: (Int, UInt32, UInt32, String).self) { group in
            for (index, vcpu) in vcpus.enumerated() {
                group.addTask {
                    try await onThread(named: "vcpu\(index)") {
                        var id: UInt32?, apic: UInt32?
                        for _ in 0..<10 {
                            let exit = try vcpu.run()
                            switch exit {
                            case let .ioOut(0x520, 4, 1, value): id = value
                            case let .ioOut(0x524, 4, 1, value): apic = value
                            case .hlt:
                                return (index, try #require(id), try #require(apic), currentThreadName())
                            default: throw UnexpectedExit(exit: exit, context: "smp_id on vCPU \(index)")
                            }
                        }
                        throw UnexpectedExit(exit: .interrupted, context: "smp_id did not halt")
                    }
                }
            }
            var all: [(Int, UInt32, UInt32, String)] = []
            for try await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }
        }
        #expect(reports.count == count)
        for (index, id, apic, thread) in reports {
            #expect(id == UInt32(index), "vCPU \(index) reported index \(id)")
            #expect(apic == UInt32(index), "vCPU \(index) reported APIC id \(apic)")
            #expect(thread == "vcpu\(index)")
        }
        #expect(Set(reports.map(\.1)) == Set((0..<count).map(UInt32.init)))
    }
}
