// /dev/kvm itself: API version, capabilities, supported CPUID, MSR list, VM and vCPU creation.
import GuestMemory
import KVMCore
import Testing

@Suite("KVM system handle", .enabled(if: KVMGate.available, KVMGate.reason))
struct SystemTests {
    @Test func apiVersionIs12() throws {
        let kvm = try KVM()
        #expect(try kvm.apiVersion() == 12)
        #expect(KVM.expectedAPIVersion == 12)
        #expect(kvm.vcpuMmapSize >= 4096)
    }

    @Test func capabilitiesThisProjectReliesOn() throws {
        let kvm = try KVM()
        for cap in [Capability.irqchip, .ioeventfd, .irqfd, .immediateExit, .userMemory, .setTSSAddress] {
            #expect(kvm.has(cap), "capability \(cap) missing")
        }
        #expect(try kvm.checkExtension(.maxVCPUs) >= 1)
        #expect(try kvm.checkExtension(.nrMemorySlots) >= 32)
        // A number KVM does not know answers 0 (absent), not an error.
        #expect(try kvm.checkExtension(.other(0x7FFF_0000)) == 0)
        #expect(!kvm.has(.other(0x7FFF_0000)))
    }

    @Test func supportedCPUIDHasBasicLeaves() throws {
        let kvm = try KVM()
        let table = try kvm.supportedCPUID()
        #expect(!table.entries.isEmpty)
        let leaf0 = try #require(table[0])
        #expect(leaf0.eax >= 1, "leaf 0 max basic leaf \(leaf0.eax)")
        // Vendor string is 12 printable ASCII bytes in EBX, EDX, ECX.
        let vendor = [leaf0.ebx, leaf0.edx, leaf0.ecx].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        #expect(vendor.allSatisfy { (0x20...0x7E).contains($0) }, "vendor bytes \(vendor)")
        let leaf1 = try #require(table[1])
        #expect(leaf1.edx & (1 << 0) != 0, "FPU bit of CPUID.1:EDX")
        #expect(leaf1.edx & (1 << 5) != 0, "MSR bit of CPUID.1:EDX")
        // Long mode (CPUID.80000001H:EDX bit 29) is what the long64 guests need.
        let ext = try #require(table[0x8000_0001])
        #expect(ext.edx & (1 << 29) != 0)
    }

    @Test func msrIndexListIsNonEmpty() throws {
        let kvm = try KVM()
        let list = try kvm.msrIndexList()
        #expect(!list.isEmpty)
        #expect(list.contains(0x174), "IA32_SYSENTER_CS is saved/restored by every KVM")
    }

    @Test func createVMAndSeveralVCPUs() throws {
        let kvm = try KVM()
        let vm = try kvm.createVM()
        let vcpus = try (0..<4).map { try vm.createVCPU(id: UInt32($0)) }
        #expect(vcpus.map(\.id) == [0, 1, 2, 3])
        // Fresh vCPUs start at the x86 reset vector F000:FFF0.
        let regs = try vcpus[2].registers()
        #expect(regs.rip == 0xFFF0)
        let sregs = try vcpus[2].specialRegisters()
        #expect(sregs.cs.selector == 0xF000)
        #expect(sregs.cs.base == 0xFFFF_0000)
        // Two VMs from one /dev/kvm are independent (same vCPU id is fine in another VM).
        let other = try kvm.createVM()
        _ = try other.createVCPU(id: 0)
    }

    @Test func vmOutlivesTheSystemHandle() throws {
        var kvm: KVM? = try KVM()
        let vm = try kvm!.createVM()
        kvm = nil
        let vcpu = try vm.createVCPU(id: 0)
        #expect(try vcpu.registers().rip == 0xFFF0)
    }
}
