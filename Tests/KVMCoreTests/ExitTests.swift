// Typed exits from real guests: port and MMIO I/O in both directions, HLT, serial output in every
// CPU mode, and the triple-fault shutdown.
import BootLoader
import GuestMemory
import KVMCore
import Testing
import TestSupport

@Suite("vCPU exits", .enabled(if: KVMGate.available, KVMGate.reason))
struct ExitTests {
    /// One step of pio_mmio's documented sequence (see guests/pio_mmio.S).
    enum Step: Equatable {
        case out(UInt16, UInt8, UInt32)
        case inp(UInt16, UInt8, answer: UInt32)
        case write(UInt64, UInt8, UInt64)
        case read(UInt64, UInt8, answer: UInt64)
        case hlt
    }

    // Host-chosen answers: distinct per size and with every byte significant, so that truncation,
    // byte order or a stale value shows.
    static let a: UInt32 = 0xC3, b: UInt32 = 0xB1A2, c: UInt32 = 0xF1E2_D3C4
    static let d: UInt64 = 0x5E, e: UInt64 = 0x6D7C, f: UInt64 = 0x8B9A_ABBC
    static let g: UInt64 = 0xFEDC_BA98_7654_3210

    static let pioMMIOScript: [Step] = [
        .out(0x500, 1, 0x11), .out(0x500, 2, 0x2233), .out(0x500, 4, 0x4455_6677),
        .inp(0x504, 1, answer: a), .out(0x508, 1, a),
        .inp(0x504, 2, answer: b), .out(0x508, 2, b),
        .inp(0x504, 4, answer: c), .out(0x508, 4, c),
        .write(0xD000_0000, 1, 0x88), .write(0xD000_0000, 2, 0x99AA),
        .write(0xD000_0000, 4, 0xBBCC_DDEE), .write(0xD000_0000, 8, 0x0123_4567_89AB_CDEF),
        .read(0xD000_0008, 1, answer: d), .write(0xD000_0010, 1, d),
        .read(0xD000_0008, 2, answer: e), .write(0xD000_0010, 2, e),
        .read(0xD000_0008, 4, answer: f), .write(0xD000_0010, 4, f),
        .read(0xD000_0008, 8, answer: g), .write(0xD000_0010, 8, g),
        .hlt,
    ]

    /// Runs `vcpu` through `script`, answering reads; returns the exits actually seen (as steps).
    static func play(_ vcpu: VCPU, _ script: [Step]) throws -> [Step] {
        var seen: [Step] = []
        for expected in script {
            let exit = try vcpu.run()
            switch exit {
            case let .ioOut(port, size, count, value):
                #expect(count == 1)
                seen.append(.out(port, size, value))
            case let .ioIn(port, size, count):
                #expect(count == 1)
                guard case let .inp(_, _, answer) = expected else {
                    seen.append(.inp(port, size, answer: 0)); return seen
                }
                vcpu.completeIOIn(answer)
                seen.append(.inp(port, size, answer: answer))
            case let .mmioWrite(address, length, value):
                seen.append(.write(address.raw, length, value))
            case let .mmioRead(address, length):
                guard case let .read(_, _, answer) = expected else {
                    seen.append(.read(address.raw, length, answer: 0)); return seen
                }
                vcpu.completeMMIORead(answer)
                seen.append(.read(address.raw, length, answer: answer))
            case .hlt:
                seen.append(.hlt)
            default:
                throw UnexpectedExit(exit: exit, context: "after \(seen.count) pio_mmio exits")
            }
            if seen.last != expected { return seen }
        }
        return seen
    }

    @Test func pioAndMMIOExitsCarryPortAddressSizeAndData() throws {
        let (_, vcpu) = try TestVM.forProgram(.pioMMIO)
        let seen = try Self.play(vcpu, Self.pioMMIOScript)
        #expect(seen == Self.pioMMIOScript)
    }

    @Test func haltedGuestHaltsAgainWhenResumed() throws {
        let (_, vcpu) = try TestVM.forProgram(.pioMMIO)
        _ = try Self.play(vcpu, Self.pioMMIOScript)
        // pio_mmio: "If resumed after HLT it halts again"; without an irqchip HLT always exits.
        #expect(try vcpu.run() == .hlt)
        let rip = try vcpu.registers().rip
        #expect(rip > FlatX86Layout.imageLoadAddress.raw && rip < FlatX86Layout.imageLoadAddress.raw + 0x1000)
    }

    @Test func stringIOInAndOutUseTheWholeDataArea() throws {
        // Hand-assembled long mode: rep outsb of 3 bytes to 0x600 from 0x100100, rep insb of 3
        // bytes from 0x601 to 0x100200, then hlt.
        let machine = try TestVM()
        let code: [UInt8] = [
            0xBE, 0x00, 0x01, 0x10, 0x00,   // mov esi, 0x100100
            0x66, 0xBA, 0x00, 0x06,         // mov dx, 0x600
            0xB9, 0x03, 0x00, 0x00, 0x00,   // mov ecx, 3
            0xF3, 0x6E,                     // rep outsb
            0xBF, 0x00, 0x02, 0x10, 0x00,   // mov edi, 0x100200
            0x66, 0xBA, 0x01, 0x06,         // mov dx, 0x601
            0xB9, 0x03, 0x00, 0x00, 0x00,   // mov ecx, 3
            0xF3, 0x6C,                     // rep insb
            0xF4,                           // hlt
        ]
        try machine.memory.write(code, at: FlatX86Layout.imageLoadAddress)
        try machine.memory.write([0x41, 0x42, 0x43], at: GuestAddress(0x10_0100))
        let vcpu = try machine.makeVCPU(id: 0, mode: .long64)
        var out: [UInt8] = []
        var input: [UInt8] = [0x71, 0x72, 0x73]
        var done = false
        for _ in 0..<10 where !done {
            let exit = try vcpu.run()
            switch exit {
            case .ioOut(0x600, 1, _, _): out += vcpu.ioOutBytes()
            case .ioIn(0x601, 1, let count):   // KVM may split the string into several exits
                vcpu.completeIOIn(bytes: Array(input.prefix(Int(count))))
                input.removeFirst(min(Int(count), input.count))
            case .hlt: done = true
            default: throw UnexpectedExit(exit: exit, context: "string I/O")
            }
        }
        #expect(done)
        #expect(out == [0x41, 0x42, 0x43])
        #expect(try machine.memory.read(count: 3, at: GuestAddress(0x10_0200)) == [0x71, 0x72, 0x73])
    }

    @Test(arguments: [
        (GuestProgram.helloReal, "real\n", UInt32(0x10)),
        (GuestProgram.helloProt32, "prot32\n", UInt32(0x10)),
        (GuestProgram.helloLong64, "long64\n", UInt32(0x10)),
        (GuestProgram.serialHello, "Hello from a Swift VMM guest\n", UInt32(0)),
    ])
    func serialOutputInEveryMode(program: GuestProgram, text: String, status: UInt32) throws {
        let (_, vcpu) = try TestVM.forProgram(program)
        let result = try vcpu.runSerialGuest()
        #expect(result.text == text)
        #expect(result.debugExit?.size == 1)
        #expect(result.debugExit?.value == status)
        // The documented behaviour after the debug exit: the same write again.
        let again = try vcpu.run()
        #expect(again == .ioOut(port: 0xF4, size: 1, count: 1, value: status))
    }

    @Test func realModeGuestReallyRunsInRealMode() throws {
        let (_, vcpu) = try TestVM.forProgram(.helloReal)
        _ = try vcpu.runSerialGuest()
        let sregs = try vcpu.specialRegisters()
        #expect(sregs.cr0 & FlatX86Setup.cr0PE == 0)
        #expect(sregs.cs.selector == 0x0800)
        #expect(sregs.ds.selector == 0x0800, "the guest copies CS into DS")
    }

    @Test func tripleFaultIsShutdown() throws {
        let (_, vcpu) = try TestVM.forProgram(.tripleFault)
        let exit = try vcpu.run()
        #expect(exit == .shutdown, "got \(exit.name)")
    }
}
