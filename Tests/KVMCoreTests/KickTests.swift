// VCPUKicker: another thread brings a vCPU out of KVM_RUN (signal + immediate_exit), including a
// kick that lands before the vCPU ever ran.
import BootLoader
import Foundation
import GuestMemory
import KVMCore
import Synchronization
import Testing
import TestSupport

@Suite("Kicking a running vCPU", .enabled(if: KVMGate.available, KVMGate.reason))
struct KickTests {
    /// Generous: the machines are small and shared; a working kick takes microseconds.
    static let bound = 2.0

    /// A vCPU entered directly at CPL3 on `jmp $`: it spins natively, with no exit at all.
    static func spinningVCPU() throws -> (TestVM, VCPU) {
        let machine = try TestVM()
        try machine.memory.write([0xEB, 0xFE], at: FlatX86Layout.imageLoadAddress)
        let vcpu = try machine.makeVCPU(id: 0, state: FlatX86Setup.long64User(entry: FlatX86Layout.imageLoadAddress))
        return (machine, vcpu)
    }

    /// Shared between the test and the vCPU thread.
    final class Flags: Sendable {
        let entered = Atomic(false)
        let stop = Atomic(false)
        let kickedAt = Atomic<UInt64>(0)   // Double bit pattern
        let exits = Atomic(0)
    }

    /// Drives `vcpu` on its own thread until `.interrupted` with `stop` set; `onExit` sees the
    /// other exits. Returns (exits before the stop, seconds from the kick to `.interrupted`), or
    /// nil if the thread has not finished `timeout` seconds after the kick: a failed kick then fails
    /// the test instead of hanging the run (the stuck thread is left to the process's end).
    /// The thread is started from a concurrency-pool thread, so it inherits a mask that blocks
    /// every signal: KVMCore must unblock its kick signal itself for these tests to pass.
    static func runUntilKicked(_ vcpu: VCPU, _ flags: Flags,
                               onExit: @escaping @Sendable (VCPUExit, Int) throws -> Void) -> Outcome {
        let outcome = Outcome()
        let thread = Thread {
            setCurrentThreadName("vcpu0")
            let result = Result { () throws -> (Int, Double) in
                var exits = 0
                while true {
                    flags.entered.store(true, ordering: .releasing)
                    let exit = try vcpu.run()
                    if exit == .interrupted {
                        if flags.stop.load(ordering: .acquiring) {
                            let kicked = Double(bitPattern: flags.kickedAt.load(ordering: .acquiring))
                            return (exits, monotonicSeconds() - kicked)
                        }
                        continue   // a stray signal: the flag is not set, go on
                    }
                    try onExit(exit, exits)
                    exits += 1
                    if exits > 50_000_000 { throw UnexpectedExit(exit: exit, context: "never kicked") }
                }
            }
            outcome.value.withLock { $0 = result }
        }
        thread.start()
        return outcome
    }
    final class Outcome: Sendable {
        let value = Mutex<Result<(Int, Double), any Error>?>(nil)

        /// Waits (polling, bounded) for the vCPU thread's result.
        func wait(seconds: Double) async throws -> (Int, Double) {
            let start = monotonicSeconds()
            while monotonicSeconds() - start < seconds {
                if let result = value.withLock({ $0 }) { return try result.get() }
                try await Task.sleep(for: .milliseconds(2))
            }
            Issue.record("the vCPU thread did not come out of KVM_RUN within \(seconds) s of the kick")
            throw UnexpectedExit(exit: .interrupted, context: "kick not delivered")
        }
    }

    static func kick(_ vcpu: VCPU, _ flags: Flags) throws {
        flags.kickedAt.store(monotonicSeconds().bitPattern, ordering: .releasing)
        flags.stop.store(true, ordering: .releasing)   // the flag first, then the kick (VCPUKicker protocol)
        try vcpu.kicker.kick()
    }

    @Test func kickInterruptsAGuestSpinningAtCPL3WithoutExits() async throws {
        try VCPUKicker.prepare()
        let (_, vcpu) = try Self.spinningVCPU()
        let flags = Flags()
        let outcome = Self.runUntilKicked(vcpu, flags) { exit, _ in
            throw UnexpectedExit(exit: exit, context: "jmp $ at CPL3 should never exit")
        }
        // Let it get into KVM_RUN and spin a little.
        let start = monotonicSeconds()
        while !flags.entered.load(ordering: .acquiring) && monotonicSeconds() - start < 5 { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(100))
        try Self.kick(vcpu, flags)
        let (exits, latency) = try await outcome.wait(seconds: 10)
        #expect(exits == 0)
        #expect(latency < Self.bound, "kick took \(latency) s")
        // The guest was really running at CPL3, still at its loop.
        let regs = try vcpu.registers()
        #expect(regs.rip == FlatX86Layout.imageLoadAddress.raw)
        #expect(try vcpu.specialRegisters().cs.dpl == 3)
    }

    @Test func kickInterruptsTheEndlessCPL3PortLoop() async throws {
        try VCPUKicker.prepare()
        let (_, vcpu) = try TestVM.forProgram(.pioLoopCPL3)
        let flags = Flags()
        let outcome = Self.runUntilKicked(vcpu, flags) { exit, n in
            // pio_loop_cpl3: the n-th exit is a 4-byte OUT of n to port 0x530.
            guard exit == .ioOut(port: 0x530, size: 4, count: 1, value: UInt32(truncatingIfNeeded: n)) else {
                throw UnexpectedExit(exit: exit, context: "exit \(n) of pio_loop_cpl3")
            }
            flags.exits.store(n + 1, ordering: .releasing)
        }
        let start = monotonicSeconds()
        while flags.exits.load(ordering: .acquiring) < 1000 && monotonicSeconds() - start < 10 {
            try await Task.sleep(for: .milliseconds(1))
        }
        try Self.kick(vcpu, flags)
        let (exits, latency) = try await outcome.wait(seconds: 10)
        #expect(exits >= 1000)
        #expect(latency < Self.bound, "kick took \(latency) s")
    }

    @Test func kickBeforeTheFirstRunReturnsInterruptedAtOnce() throws {
        try VCPUKicker.prepare()
        let (_, vcpu) = try TestVM.forProgram(.helloLong64)
        try vcpu.kicker.kick()   // no thread has run it yet: only immediate_exit is set
        let start = monotonicSeconds()
        #expect(try vcpu.run() == .interrupted)
        #expect(monotonicSeconds() - start < Self.bound)
        // The guest has not executed anything, and the kick was consumed: the next run makes progress.
        #expect(try vcpu.registers().rip == FlatX86Layout.imageLoadAddress.raw)
        let result = try vcpu.runSerialGuest()
        #expect(result.text == "long64\n")
    }

    @Test func kickBetweenRunsIsNotLost() throws {
        // Kicked while the vCPU thread is outside KVM_RUN (after an exit): the next run comes out at once.
        try VCPUKicker.prepare()
        let (_, vcpu) = try TestVM.forProgram(.helloLong64)
        #expect(try vcpu.run() == .ioOut(port: 0x3F8, size: 1, count: 1, value: UInt32(UInt8(ascii: "l"))))
        try vcpu.kicker.kick()   // bound to this thread: signal (handled at once) + immediate_exit
        #expect(try vcpu.run() == .interrupted)
        #expect(try vcpu.run() == .ioOut(port: 0x3F8, size: 1, count: 1, value: UInt32(UInt8(ascii: "o"))))
    }

    @Test func kickAfterTheVCPUThreadEndedIsSafe() async throws {
        // A vCPU thread that has finished (the guest shut down, say) and is gone: a later kick
        // (a VMM stopping everything) must neither signal a dead thread nor be lost.
        try VCPUKicker.prepare()
        let (_, vcpu) = try TestVM.forProgram(.tripleFault)
        for _ in 0..<20 {
            let exit = try await onThread(named: "vcpu0") { try vcpu.run() }
            #expect(exit == .shutdown)
            try await Task.sleep(for: .milliseconds(5))   // let the detached thread be reaped
            try vcpu.kicker.kick()
            #expect(try vcpu.run() == .interrupted, "the kick must stay pending as immediate_exit")
        }
    }
}
