// Bus and legacy devices without KVM: offsets, unmapped accesses, UART register semantics.
import KVMCore
import Machine
import Synchronization
import Testing

@Suite struct AddressBusTests {
    @Test func devicesSeeOffsetsIntoTheirOwnRange() throws {
        let a = RecordingDevice(), b = RecordingDevice()
        let bus = try AddressBus(kind: "pio", entries: [
            .init(name: "b", base: 0x100, length: 0x10, device: b),
            .init(name: "a", base: 0x10, length: 8, device: a),
        ])
        bus.write(0x17, size: 1, value: 0xAB)
        bus.write(0x10F, size: 2, value: 0x1234)
        #expect(a.writes == [.init(offset: 7, size: 1, value: 0xAB)])
        #expect(b.writes == [.init(offset: 0xF, size: 2, value: 0x1234)])
    }

    @Test func unmappedReadsAreAllOnesAndWritesAreIgnored() throws {
        let a = RecordingDevice()
        let bus = try AddressBus(kind: "mmio", entries: [.init(name: "a", base: 0x1000, length: 0x1000, device: a)])
        #expect(bus.read(0xFFF, size: 1) == 0xFF)
        #expect(bus.read(0x2000, size: 2) == 0xFFFF)
        #expect(bus.read(0x2000, size: 4) == 0xFFFF_FFFF)
        #expect(bus.read(UInt64.max, size: 8) == UInt64.max)
        bus.write(0x2000, size: 4, value: 1)
        #expect(a.writes.isEmpty)
    }

    @Test func overlappingOrEmptyRangesAreRefused() {
        let d = RecordingDevice()
        #expect(throws: BusError.overlap("a", "b")) {
            try AddressBus(kind: "pio", entries: [.init(name: "a", base: 0, length: 0x10, device: d),
                                                  .init(name: "b", base: 0xF, length: 1, device: d)])
        }
        #expect(throws: BusError.emptyRange(name: "z")) {
            try AddressBus(kind: "pio", entries: [.init(name: "z", base: 5, length: 0, device: d)])
        }
        #expect(throws: BusError.emptyRange(name: "w")) {
            try AddressBus(kind: "mmio", entries: [.init(name: "w", base: UInt64.max, length: 2, device: d)])
        }
    }
}

@Suite struct SerialPortTests {
    final class Sink: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    @Test func transmitterIsAlwaysReadyAndBytesReachTheSink() {
        let sink = Sink()
        let uart = SerialPort { b in sink.bytes.withLock { $0.append(b) } }
        #expect(uart.read(offset: 5, size: 1) & 0x60 == 0x60)
        for b in "ok".utf8 { uart.write(offset: 0, size: 1, value: UInt64(b)) }
        #expect(sink.bytes.withLock { $0 } == Array("ok".utf8))
    }

    @Test func divisorLatchDoesNotTransmit() {
        let sink = Sink()
        let uart = SerialPort { b in sink.bytes.withLock { $0.append(b) } }
        uart.write(offset: 3, size: 1, value: 0x80)     // DLAB on
        uart.write(offset: 0, size: 1, value: 0x01)     // divisor low
        uart.write(offset: 1, size: 1, value: 0x00)     // divisor high
        #expect(uart.read(offset: 0, size: 1) == 0x01)
        uart.write(offset: 3, size: 1, value: 0x03)     // 8N1, DLAB off
        #expect(sink.bytes.withLock { $0 }.isEmpty)
        #expect(uart.read(offset: 3, size: 1) == 0x03)
    }

    @Test func loopbackKeepsBytesOnChipAndScratchRoundTrips() {
        let sink = Sink()
        let uart = SerialPort { b in sink.bytes.withLock { $0.append(b) } }
        uart.write(offset: 4, size: 1, value: 0x10)     // MCR loopback
        uart.write(offset: 0, size: 1, value: 0x41)
        #expect(sink.bytes.withLock { $0 }.isEmpty)
        uart.write(offset: 7, size: 1, value: 0x5A)
        #expect(uart.read(offset: 7, size: 1) == 0x5A)
    }
}

@Suite struct SerialInterruptTests {
    final class Counter: Sendable {
        let n = Mutex(0)
        var value: Int { n.withLock { $0 } }
    }

    @Test func thrEmptyInterruptFollowsThe16550Rules() {
        let raised = Counter()
        let uart = SerialPort(sink: { _ in }, interrupt: { raised.n.withLock { $0 += 1 } })
        uart.write(offset: 0, size: 1, value: 0x41)           // THRE interrupts off: nothing raised
        #expect(raised.value == 0)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x01)  // IIR: none pending
        uart.write(offset: 1, size: 1, value: 0x02)            // enable THRE: raised at once
        #expect(raised.value == 1)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x02)  // IIR: THR empty ...
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x01)  // ... cleared by reading IIR
        uart.write(offset: 0, size: 1, value: 0x42)            // each transmitted byte raises again
        #expect(raised.value == 2)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x02)
    }
}

@Suite struct CPUTemplateTests {
    @Test func nestedEmulatorMasksTheDocumentedBitsAndSetsTopology() throws {
        var supported = KVMCore.CPUIDTable(entries: [
            .init(function: 1, ecx: 0xFFFF_FFFF, edx: 0),
            .init(function: 7, ebx: 0xFFFF_FFFF),
            .init(function: 0xB, index: 0, edx: 0),
        ])
        let t = CPUTemplate.nestedEmulator.cpuid(from: supported, apicID: 3, vcpuCount: 4)
        let leaf1 = try #require(t[1])
        for bit in [26, 27, 13, 23, 3] { #expect(leaf1.ecx & (1 << UInt32(bit)) == 0, "CPUID.1:ECX bit \(bit)") }
        #expect(leaf1.ebx >> 24 == 3)
        #expect((leaf1.ebx >> 16) & 0xFF == 4)
        #expect(leaf1.edx & (1 << 28) != 0, "HTT with more than one vCPU")
        #expect(try #require(t[7]).ebx & (1 << 20) == 0)
        #expect(try #require(t[0xB]).edx == 3)
        // The host template changes no feature bit.
        supported = CPUTemplate.host.cpuid(from: supported, apicID: 0, vcpuCount: 1)
        #expect(try #require(supported[1]).ecx == 0xFFFF_FFFF)
        #expect(try #require(supported[7]).ebx == 0xFFFF_FFFF)
        #expect(CPUTemplate.named("nested-emulator") == .nestedEmulator)
        #expect(CPUTemplate.named("nope") == nil)
    }
}

@Suite struct SerialReceiveTests {
    @Test func receivedBytesAreReadInOrderWithDataReadyAndInterrupt() {
        let raised = SerialInterruptTests.Counter()
        let uart = SerialPort(sink: { _ in }, interrupt: { raised.n.withLock { $0 += 1 } })
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0, "no data ready yet")
        uart.write(offset: 1, size: 1, value: 0x01)            // enable received-data interrupts
        #expect(uart.receive(Array("ab".utf8)) == 2)
        #expect(raised.value == 1)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x04, "IIR: received data")
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0x01)
        #expect(uart.read(offset: 0, size: 1) == 0x61)
        #expect(uart.read(offset: 0, size: 1) == 0x62)
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x01, "nothing pending once drained")
    }

    @Test func aFullBufferRefusesMoreAndSignalsWhenTheGuestDrainsIt() {
        let uart = SerialPort(sink: { _ in })
        let drained = SerialInterruptTests.Counter()
        uart.onReceiveSpace { drained.n.withLock { $0 += 1 } }
        let capacity = SerialPort.receiveCapacity
        #expect(uart.receive([UInt8](repeating: 0x41, count: capacity + 100)) == capacity)
        #expect(uart.receiveRoom == 0)
        #expect(uart.receive([0x42]) == 0, "nothing is taken, so the feeder keeps it")
        #expect(uart.read(offset: 0, size: 1) == 0x41)
        #expect(drained.value == 1, "reading from a full buffer tells the feeder there is room")
        #expect(uart.receiveRoom == 1)
        for _ in 1..<capacity { _ = uart.read(offset: 0, size: 1) }
        #expect(uart.receiveRoom == capacity)
        #expect(uart.read(offset: 0, size: 1) == 0, "an empty receiver reads 0")
    }
}
