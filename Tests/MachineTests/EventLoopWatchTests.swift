// EventLoop.setWatching: a paused descriptor's handler is not called however readable it is, and
// resuming brings the same handler back. "Not called" is checked without sleeping: a second
// descriptor serves as a barrier, and two full loop iterations after it were signalled any
// level-triggered descriptor still in the epoll set would have been reported with it.
import Foundation
import Glibc
import Machine
import Synchronization
import Testing

@Suite struct EventLoopWatchTests {
    final class Calls: Sendable {
        let counts = Mutex<[String: Int]>([:])
        let signal = DispatchSemaphore(value: 0)
        func hit(_ name: String) { counts.withLock { $0[name, default: 0] += 1 }; signal.signal() }
        func count(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }
    }

    @Test func aPausedDescriptorIsIgnoredUntilResumed() throws {
        var data: [Int32] = [0, 0], barrier: [Int32] = [0, 0]
        try #require(pipe(&data) == 0 && pipe(&barrier) == 0)
        defer { for fd in data + barrier { close(fd) } }
        let loop = try EventLoop()
        let calls = Calls()
        let (dataIn, barrierIn) = (data[0], barrier[0])
        try loop.add(dataIn) {
            var byte: UInt8 = 0
            _ = read(dataIn, &byte, 1)
            calls.hit("data")
        }
        try loop.add(barrierIn) {
            var byte: UInt8 = 0
            _ = read(barrierIn, &byte, 1)
            calls.hit("barrier")
        }
        try #require(loop.start() == 0)
        defer { loop.stop() }

        try loop.setWatching(dataIn, false)
        try loop.setWatching(dataIn, false)   // idempotent
        var one: UInt8 = 1
        #expect(write(data[1], &one, 1) == 1)
        for round in 1...2 {
            #expect(write(barrier[1], &one, 1) == 1)
            #expect(calls.signal.wait(timeout: .now() + 10) == .success)
            #expect(calls.count("barrier") == round)
        }
        #expect(calls.count("data") == 0, "a paused descriptor's handler never ran")

        try loop.setWatching(dataIn, true)
        #expect(calls.signal.wait(timeout: .now() + 10) == .success)
        #expect(calls.count("data") == 1, "resuming keeps the handler")
        try loop.setWatching(12345, false)   // unknown descriptors are ignored
    }
}
