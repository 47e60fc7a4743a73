// Shared helpers for the KVMCore tests: a small VM builder over real /dev/kvm, entry-state loading
// (Machine's X86VCPUSetup), exit scripting and vCPU threads.
import BootLoader
import Foundation
import GuestMemory
import KVMCore
import Machine
import Synchronization
import Testing
import TestSupport

/// The gate every test here uses: run only where /dev/kvm opens read-write, and say why otherwise.
enum KVMGate {
    static let available: Bool = {
        if !KVMAvailability.available {
            print("KVMCoreTests skipped: \(KVMAvailability.reason)")
        }
        return KVMAvailability.available
    }()
    static let reason: Comment = "needs /dev/kvm (read-write)"
}

/// Where the simple guests' RAM lives: one slot from 0 (tables, stack, real-mode area, image at 1 MiB).
enum TestLayout {
    static let lowRAMSize: UInt64 = 0x20_0000   // 2 MiB: 0 .. 0x1FFFFF
    static let serialPort: UInt16 = 0x3F8
    static let debugExitPort: UInt16 = 0xF4
}

/// A VM with RAM from guest-physical 0 mapped as slot 0 and the FlatX86Setup tables written.
final class TestVM: @unchecked Sendable {
    // @unchecked: used by one test at a time; vCPUs are handed to threads explicitly.
    let kvm: KVM
    let vm: VirtualMachine
    let memory: GuestMemoryMap
    let supportedCPUID: CPUIDTable

    init(ramSize: UInt64 = TestLayout.lowRAMSize, ramFlags: MemorySlotFlags = [], irqchip: Bool = false) throws {
        kvm = try KVM()
        vm = try kvm.createVM()
        if irqchip { try vm.createIRQChip() }
        // Needed on Intel for real mode / unrestricted guests; harmless on AMD. Both lie above RAM.
        try vm.setTSSAddress(GuestAddress(0xFFFB_D000))
        let ram = try GuestRegion.anonymous(at: GuestAddress(0), size: ramSize)
        memory = try GuestMemoryMap(regions: [ram])
        try vm.mapMemory(slot: 0, region: ram, flags: ramFlags)
        try FlatX86Setup.writeTables(into: memory)
        supportedCPUID = try kvm.supportedCPUID()
    }

    /// Loads a built guest's flat binary at its documented address.
    func load(_ program: GuestProgram) throws -> X86EntryState.Mode {
        let bytes = try GuestPrograms.flatBytes(program)
        switch program {
        case .helloReal:
            try memory.write(bytes, at: FlatX86Layout.realModeLoadAddress)
            return .real
        case .helloProt32:
            try memory.write(bytes, at: FlatX86Layout.imageLoadAddress)
            return .protected32
        default:
            try memory.write(bytes, at: FlatX86Layout.imageLoadAddress)
            return .long64
        }
    }

    /// Creates vCPU `id` with KVM's supported CPUID (APIC id = `id`) and the entry state of `mode`.
    func makeVCPU(id: UInt32, mode: X86EntryState.Mode, index: Int? = nil) throws -> VCPU {
        let entry: GuestAddress = mode == .real ? FlatX86Layout.realModeLoadAddress : FlatX86Layout.imageLoadAddress
        return try makeVCPU(id: id, state: FlatX86Setup.entryState(mode: mode, entry: entry), index: index)
    }

    func makeVCPU(id: UInt32, state: X86EntryState, index: Int? = nil) throws -> VCPU {
        let vcpu = try vm.createVCPU(id: id)
        try vcpu.setCPUID(TestVM.cpuid(supportedCPUID, apicID: id))
        try X86VCPUSetup.apply(state, to: vcpu, index: index ?? Int(id))
        return vcpu
    }

    /// Builds, loads and sets up one vCPU for `program`.
    static func forProgram(_ program: GuestProgram, ramSize: UInt64 = TestLayout.lowRAMSize) throws -> (TestVM, VCPU) {
        let machine = try TestVM(ramSize: ramSize)
        let mode = try machine.load(program)
        return (machine, try machine.makeVCPU(id: 0, mode: mode))
    }

    /// KVM's supported CPUID with the APIC id in leaf 1 EBX[31:24] and leaves 0xB/0x1F EDX
    /// (as Machine's MicroVM does).
    static func cpuid(_ supported: CPUIDTable, apicID: UInt32) -> CPUIDTable {
        var table = supported
        for i in table.entries.indices {
            switch table.entries[i].function {
            case 1: table.entries[i].ebx = (table.entries[i].ebx & 0x00FF_FFFF) | (apicID << 24)
            case 0xB, 0x1F: table.entries[i].edx = apicID
            default: break
            }
        }
        return table
    }
}


struct UnexpectedExit: Error, CustomStringConvertible {
    let exit: VCPUExit
    let context: String
    var description: String { "unexpected exit \(exit) (\(exit.name)) \(context)" }
}

/// What a simple serial guest did: bytes written to 0x3f8 and the first debug-exit (0xf4) write.
struct SerialRun {
    var serial: [UInt8] = []
    var debugExit: (size: UInt8, value: UInt32)?
    var text: String { String(decoding: serial, as: UTF8.self) }
}

extension VCPU {
    /// Runs until the guest writes to port 0xf4, collecting 1-byte 0x3f8 writes. Any other exit
    /// fails; `maxExits` bounds the loop.
    func runSerialGuest(maxExits: Int = 1000) throws -> SerialRun {
        var result = SerialRun()
        for _ in 0..<maxExits {
            let exit = try run()
            switch exit {
            case let .ioOut(port, size, count, value) where port == TestLayout.serialPort && size == 1 && count == 1:
                result.serial.append(UInt8(truncatingIfNeeded: value))
            case let .ioOut(port, size, count, value) where port == TestLayout.debugExitPort && count == 1:
                result.debugExit = (size, value)
                return result
            default:
                throw UnexpectedExit(exit: exit, context: "after serial output \(result.text.debugDescription)")
            }
        }
        throw UnexpectedExit(exit: .unknown(reason: 0, hardwareReason: 0), context: "more than \(maxExits) exits")
    }
}

/// Runs `body` on a dedicated, named thread (vCPU loops block in KVM_RUN: never on the
/// concurrency pool) and returns its result.
func onThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        let thread = Thread {
            // Named from inside: the kernel name (top -H, /proc) is what matters, 15 bytes at most.
            setCurrentThreadName(name)
            continuation.resume(returning: Result { try body() })
        }
        thread.start()
    }
    return try result.get()
}

/// Sets the calling thread's kernel name (15 bytes at most) through /proc/thread-self/comm.
func setCurrentThreadName(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// The calling thread's kernel name.
func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return String(decoding: buffer.prefix(max(0, n)).filter { $0 != 0x0A }, as: UTF8.self)
}

/// Monotonic seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
