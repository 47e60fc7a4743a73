// ioeventfd (guest writes signal an eventfd instead of exiting) and irqfd (an eventfd raises a GSI).
import BootLoader
import GuestMemory
import KVMCore
import Testing
import TestSupport

@Suite("ioeventfd and irqfd", .enabled(if: KVMGate.available, KVMGate.reason))
struct EventFDTests {
    @Test func eventFDCounts() throws {
        let event = try EventFD()
        #expect(try event.consume() == nil)
        try event.signal()
        try event.signal(41)
        #expect(try event.consume() == 42)
        #expect(try event.consume() == nil)
    }

    @Test func ioeventfdSwallowsMatchingWritesOnly() throws {
        let (machine, vcpu) = try TestVM.forProgram(.pioMMIO)
        let pio = try EventFD(), mmio = try EventFD()
        // pio_mmio's exit 1 (1-byte 0x11 to port 0x500) and exit 12 (4-byte 0xBBCCDDEE to 0xD0000000).
        try machine.vm.registerIoeventfd(pio, at: .pio(0x500), length: 1, datamatch: 0x11)
        try machine.vm.registerIoeventfd(mmio, at: .mmio(GuestAddress(0xD000_0000)), length: 4, datamatch: 0xBBCC_DDEE)
        // The same port with another datamatch is a different ioeventfd: never matched here.
        let other = try EventFD()
        try machine.vm.registerIoeventfd(other, at: .pio(0x500), length: 1, datamatch: 0x12)

        let script = ExitTests.pioMMIOScript.filter {
            $0 != .out(0x500, 1, 0x11) && $0 != .write(0xD000_0000, 4, 0xBBCC_DDEE)
        }
        #expect(script.count == ExitTests.pioMMIOScript.count - 2)
        let seen = try ExitTests.play(vcpu, script)
        #expect(seen == script, "the matched writes must not reach user space")
        #expect(try pio.consume() == 1)
        #expect(try mmio.consume() == 1)
        #expect(try other.consume() == nil)
    }

    @Test func unregisteredIoeventfdLetsTheWriteExitAgain() throws {
        let (machine, vcpu) = try TestVM.forProgram(.pioMMIO)
        let pio = try EventFD()
        try machine.vm.registerIoeventfd(pio, at: .pio(0x500), length: 1, datamatch: 0x11)
        // Registering the same one twice is EEXIST.
        #expect(throws: KVMError.system(.ioeventfd, errno: .fileExists)) {
            try machine.vm.registerIoeventfd(pio, at: .pio(0x500), length: 1, datamatch: 0x11)
        }
        try machine.vm.unregisterIoeventfd(pio, at: .pio(0x500), length: 1, datamatch: 0x11)
        let seen = try ExitTests.play(vcpu, Array(ExitTests.pioMMIOScript.prefix(3)))
        #expect(seen == Array(ExitTests.pioMMIOScript.prefix(3)))
        #expect(try pio.consume() == nil)
        // Unregistering what is not registered: ENOENT.
        #expect(throws: KVMError.system(.ioeventfd, errno: .noSuchFileOrDirectory)) {
            try machine.vm.unregisterIoeventfd(pio, at: .pio(0x500), length: 1, datamatch: 0x11)
        }
    }

    @Test func ioeventfdArgumentsAreChecked() throws {
        let vm = try KVM().createVM()
        let event = try EventFD()
        #expect {
            try vm.registerIoeventfd(event, at: .pio(0x500), length: 3)
        } throws: { error in
            guard case .invalidArgument(.ioeventfd, _) = error as? KVMError else { return false }
            return true
        }
        #expect {
            try vm.registerIoeventfd(event, at: .mmio(GuestAddress(0xD000_0000)), length: 0, datamatch: 1)
        } throws: { error in
            guard case .invalidArgument(.ioeventfd, _) = error as? KVMError else { return false }
            return true
        }
    }

    @Test func irqfdOnGSI5() throws {
        let kvm = try KVM()
        let vm = try kvm.createVM()
        let event = try EventFD()
        // Without an in-kernel irqchip there is nothing to raise: KVM refuses.
        #expect(throws: KVMError.system(.irqfd, errno: .invalidArgument)) {
            try vm.registerIrqfd(event, gsi: 5)
        }
        try vm.createIRQChip()
        _ = try vm.createVCPU(id: 0)
        try vm.registerIrqfd(event, gsi: 5)
        // The same eventfd on a second GSI is EBUSY (an eventfd drives one irqfd).
        #expect(throws: KVMError.system(.irqfd, errno: .resourceBusy)) {
            try vm.registerIrqfd(event, gsi: 6)
        }
        try event.signal()
        // KVM's irqfd wakeup reads the counter inside write(): nothing is left for us.
        #expect(try event.consume() == nil, "KVM should consume the eventfd it injects from")
        try vm.unregisterIrqfd(event, gsi: 5)
        // After unregistering, a signal stays in the counter: nobody reads it.
        try event.signal(7)
        #expect(try event.consume() == 7)
        // And it can be registered again.
        try vm.registerIrqfd(event, gsi: 5)
        try vm.unregisterIrqfd(event, gsi: 5)
    }
}
