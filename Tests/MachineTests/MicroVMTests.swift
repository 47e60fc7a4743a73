// A whole machine in-process on real /dev/kvm, with the freestanding guests from guests/.
import BootLoader
import Foundation
import GuestMemory
import Machine
import Synchronization
import Testing
import TestSupport

@Suite(.enabled(if: KVMAvailability.available, kvmReason))
struct MicroVMTests {
    @Test func serialHelloPrintsAndExitsThroughDebugPort() throws {
        let run = try runGuest(try elfImage(.serialHello))
        #expect(run.serial == "Hello from a Swift VMM guest\n")
        #expect(run.exit == .debugExit(0))
        #expect(run.exit.processStatus == 1)
    }

    @Test func realModeFlatBinary() throws {
        let bytes = try GuestPrograms.flatBytes(.helloReal)
        let run = try runGuest(.flat(bytes: bytes, loadAddress: FlatX86Layout.realModeLoadAddress, mode: .real))
        #expect(run.serial == "real\n")
        #expect(run.exit == .debugExit(0x10))
    }

    @Test func protectedModeELF32() throws {
        let run = try runGuest(try elfImage(.helloProt32))
        #expect(run.serial == "prot32\n")
        #expect(run.exit == .debugExit(0x10))
    }

    @Test func longModeELF64() throws {
        let run = try runGuest(try elfImage(.helloLong64))
        #expect(run.serial == "long64\n")
        #expect(run.exit == .debugExit(0x10))
    }

    @Test func cpl3GuestDoesPortIOAtNativeSpeed() throws {
        let run = try runGuest(try elfImage(.cpl3IOPL3))
        #expect(run.serial == "cpl3\n")
        #expect(run.exit == .debugExit(3), "the guest reports CS & 3 through the debug-exit port")
    }

    @Test func tripleFaultIsDiagnosedNotHung() throws {
        let run = try runGuest(try elfImage(.tripleFault))
        guard case let .guestError(diagnosis) = run.exit else {
            Issue.record("expected a guest error, got \(run.exit)")
            return
        }
        #expect(diagnosis.contains("vcpu0: shutdown (triple fault)"))
        #expect(diagnosis.contains("RIP 0x"))
        #expect(diagnosis.contains("instruction bytes 0f 0b"), "ud2 is what faulted: \(diagnosis)")
        #expect(run.exit.processStatus == 2)
    }

    @Test func twoVCPUsEachReportTheirIndexAndAPICID() throws {
        let ids = RecordingDevice()
        let port = AddressBus.Entry(name: "smp-id", base: 0x520, length: 8, device: ids)
        let run = try runGuest(try elfImage(.smpID), cpus: 2, ports: [port])
        #expect(run.exit == .halted)
        let indices = Set(ids.writes.filter { $0.offset == 0 }.map(\.value))
        let apicIDs = Set(ids.writes.filter { $0.offset == 4 }.map(\.value))
        #expect(indices == [0, 1])
        #expect(apicIDs == [0, 1])
        #expect(ids.writes.allSatisfy { $0.size == 4 })
    }

    @Test func requestStopEndsAnEndlessGuestPromptly() throws {
        let config = MachineConfiguration(memorySize: 16 << 20, image: try elfImage(.pioLoopCPL3), serialSink: { _ in })
        let counter = RecordingCounter()
        let port = AddressBus.Entry(name: "loop", base: 0x530, length: 4, device: counter)
        let vm = try MicroVM(configuration: config, extraPortDevices: [port], mmioDevices: [])
        let stopper = Thread {
            while counter.count < 1000 { usleep(1000) }
            vm.requestStop(.stopped(reason: "test"))
        }
        stopper.start()
        let start = ContinuousClock.now
        let exit = try vm.run()
        #expect(exit == .stopped(reason: "test"))
        #expect(counter.count >= 1000)
        #expect(ContinuousClock.now - start < .seconds(30), "stop must not hang")
    }

    @Test func memoryBelowOneMiBIsRefusedWithTheFieldName() throws {
        let config = MachineConfiguration(memorySize: 64 << 10, image: try elfImage(.serialHello), serialSink: { _ in })
        #expect {
            _ = try MicroVM(configuration: config)
        } throws: { error in
            guard case let MachineError.invalidConfiguration(field, _) = error else { return false }
            return field == "memory"
        }
    }

    @Test func tooManyVCPUsIsRefusedWithTheFieldName() throws {
        let config = MachineConfiguration(memorySize: 16 << 20, vcpuCount: 100_000, image: try elfImage(.serialHello), serialSink: { _ in })
        #expect {
            _ = try MicroVM(configuration: config)
        } throws: { error in
            guard case let MachineError.invalidConfiguration(field, _) = error else { return false }
            return field == "cpus"
        }
    }

    @Test func aMissingDiskImageIsRefusedWithTheFieldName() throws {
        var config = MachineConfiguration(memorySize: 16 << 20,
                                          image: .linux(kernel: try GuestPrograms.elfBytes(.probePVH), initrd: nil, cmdline: "probe"),
                                          serialSink: { _ in })
        config.disks = [DiskConfiguration(path: "/nonexistent/disk.img")]
        #expect {
            _ = try MicroVM(configuration: config)
        } throws: { error in
            guard case let MachineError.invalidConfiguration(field, expected) = error else { return false }
            return field == "disk[0].path" && expected.contains("/nonexistent/disk.img")
        }
    }

    @Test func imageOutsideRAMIsAnImageError() throws {
        // A flat image placed past the end of 2 MiB of RAM.
        let image = BootImage.flat(bytes: [0xF4], loadAddress: GuestAddress(4 << 20), mode: .long64)
        let config = MachineConfiguration(memorySize: 2 << 20, image: image, serialSink: { _ in })
        #expect {
            _ = try MicroVM(configuration: config)
        } throws: { error in
            if case MachineError.image(.imageOutsideMemory) = error { return true }
            return false
        }
    }
}

final class RecordingCounter: BusDevice {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .relaxed) }
    func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(offset: UInt64, size: Int, value v: UInt64) {
        // The guest writes its own iteration number: n-th exit carries n.
        _ = value.add(1, ordering: .relaxed)
    }
}
