// Memory slots (map, move, remove, overlap) and vCPU creation errors, with the errno KVM gives.
import BootLoader
import GuestMemory
import KVMCore
import SystemPackage
import Testing

@Suite("Memory slots and creation errors", .enabled(if: KVMGate.available, KVMGate.reason))
struct MemorySlotTests {
    static let dataA = GuestAddress(0x40_0000)
    static let dataB = GuestAddress(0x60_0000)

    /// Long-mode code at 1 MiB: `mov al, [0x400000]; out 0x80, al; mov al, [0x600000]; out 0x81, al; hlt`.
    static let probeCode: [UInt8] = {
        func movabsAL(_ address: UInt64) -> [UInt8] { [0xA0] + (0..<8).map { UInt8(truncatingIfNeeded: address >> (8 * $0)) } }
        return movabsAL(dataA.raw) + [0xE6, 0x80] + movabsAL(dataB.raw) + [0xE6, 0x81, 0xF4]
    }()

    /// Runs the probe from its start. Reads outside RAM become MMIO exits, answered from `mmio`.
    /// Returns the values seen on ports 0x80 and 0x81 and the MMIO reads, in order.
    static func runProbe(_ vcpu: VCPU, mmio: [GuestAddress: UInt8]) throws -> (UInt8, UInt8, [GuestAddress]) {
        var regs = try vcpu.registers()
        regs.rip = FlatX86Layout.imageLoadAddress.raw
        try vcpu.setRegisters(regs)
        var ports: [UInt16: UInt8] = [:]
        var reads: [GuestAddress] = []
        for _ in 0..<10 {
            let exit = try vcpu.run()
            switch exit {
            case let .ioOut(port, 1, 1, value): ports[port] = UInt8(value)
            case let .mmioRead(address, 1):
                reads.append(address)
                vcpu.completeMMIORead(UInt64(try #require(mmio[address])))
            case .hlt: return (try #require(ports[0x80]), try #require(ports[0x81]), reads)
            default: throw UnexpectedExit(exit: exit, context: "in the slot probe")
            }
        }
        throw UnexpectedExit(exit: .hlt, context: "probe did not halt")
    }

    @Test func mapMoveRemoveAsTheGuestSeesIt() throws {
        let machine = try TestVM()
        try machine.memory.write(Self.probeCode, at: FlatX86Layout.imageLoadAddress)
        let page = try GuestRegion.anonymous(at: Self.dataA, size: 0x1000)
        try GuestMemoryMap(regions: [page]).write([0x5A], at: Self.dataA)
        try machine.vm.mapMemory(slot: 1, region: page)
        #expect(machine.vm.slot(1)?.guestAddress == Self.dataA)
        let vcpu = try machine.makeVCPU(id: 0, mode: .long64)

        // Mapped at 0x400000: RAM there, MMIO at 0x600000.
        var (a, b, reads) = try Self.runProbe(vcpu, mmio: [Self.dataB: 0x01])
        #expect((a, b) == (0x5A, 0x01))
        #expect(reads == [Self.dataB])

        // Moved to 0x600000: the same byte appears there, 0x400000 is now MMIO.
        try machine.vm.moveMemory(slot: 1, to: Self.dataB)
        #expect(machine.vm.slot(1)?.guestAddress == Self.dataB)
        (a, b, reads) = try Self.runProbe(vcpu, mmio: [Self.dataA: 0x02])
        #expect((a, b) == (0x02, 0x5A))
        #expect(reads == [Self.dataA])

        // Removed: both addresses are MMIO.
        try machine.vm.removeMemory(slot: 1)
        #expect(machine.vm.slot(1) == nil)
        (a, b, reads) = try Self.runProbe(vcpu, mmio: [Self.dataA: 0x03, Self.dataB: 0x04])
        #expect((a, b) == (0x03, 0x04))
        #expect(reads == [Self.dataA, Self.dataB])

        // Removing it again is refused before the kernel is asked.
        #expect {
            try machine.vm.removeMemory(slot: 1)
        } throws: { error in
            guard case .invalidArgument(.setUserMemoryRegion, _) = error as? KVMError else { return false }
            return true
        }
    }

    @Test func overlappingSlotIsEEXIST() throws {
        let kvm = try KVM()
        let vm = try kvm.createVM()
        let first = try GuestRegion.anonymous(at: GuestAddress(0), size: 0x10_0000)
        let second = try GuestRegion.anonymous(at: GuestAddress(0x8_0000), size: 0x10_0000)
        try vm.mapMemory(slot: 0, region: first)
        #expect(throws: KVMError.system(.setUserMemoryRegion, errno: .fileExists)) {
            try vm.mapMemory(slot: 1, region: second)
        }
        #expect(vm.slot(1) == nil, "a refused slot must not be recorded")
        // Moving a slot onto another one is refused the same way, and the slot stays where it was.
        try vm.mapMemory(slot: 1, region: second, at: GuestAddress(0x20_0000))
        #expect(throws: KVMError.system(.setUserMemoryRegion, errno: .fileExists)) {
            try vm.moveMemory(slot: 1, to: GuestAddress(0x8_0000))
        }
        #expect(vm.slot(1)?.guestAddress == GuestAddress(0x20_0000))
        // Adjacent is fine.
        try vm.moveMemory(slot: 1, to: GuestAddress(0x10_0000))
        #expect(vm.slot(1)?.guestAddress == GuestAddress(0x10_0000))
    }

    @Test func unalignedGuestAddressIsRefusedBeforeTheKernel() throws {
        let vm = try KVM().createVM()
        let region = try GuestRegion.anonymous(at: GuestAddress(0), size: 0x1000)
        #expect {
            try vm.mapMemory(slot: 0, region: region, at: GuestAddress(0x800))
        } throws: { error in
            guard case .invalidArgument(.setUserMemoryRegion, _) = error as? KVMError else { return false }
            return true
        }
    }

    @Test func vcpuIDBeyondMaximumIsEINVAL() throws {
        let kvm = try KVM()
        let vm = try kvm.createVM()
        let maxID = try vm.checkExtension(.maxVCPUID)
        let limit = maxID > 0 ? UInt32(maxID) : UInt32(try vm.checkExtension(.maxVCPUs))
        #expect(limit >= 1)
        #expect(throws: KVMError.system(.createVCPU, errno: .invalidArgument)) {
            _ = try vm.createVCPU(id: limit)   // ids are < KVM_CAP_MAX_VCPU_ID
        }
        #expect(throws: KVMError.system(.createVCPU, errno: .invalidArgument)) {
            _ = try vm.createVCPU(id: max(5000, limit))
        }
        // The failures leave the VM usable.
        _ = try vm.createVCPU(id: 0)
    }

    @Test func duplicateVCPUIDIsEEXIST() throws {
        let vm = try KVM().createVM()
        let first = try vm.createVCPU(id: 3)
        #expect(throws: KVMError.system(.createVCPU, errno: .fileExists)) {
            _ = try vm.createVCPU(id: 3)
        }
        #expect(first.id == 3)
        _ = try vm.createVCPU(id: 4)
    }
}
