// The i8042 controller as Linux's i8042 and atkbd drivers probe it, key injection and the reset line.
import Machine
import Synchronization
import Testing

@Suite struct I8042DeviceTests {
    final class Flags: Sendable {
        let interrupts = Mutex(0)
        let resets = Mutex(0)
    }

    func makeDevice() -> (I8042Device, Flags) {
        let flags = Flags()
        let device = I8042Device(interrupt: { flags.interrupts.withLock { $0 += 1 } },
                                 onReset: { flags.resets.withLock { $0 += 1 } })
        return (device, flags)
    }

    func command(_ d: I8042Device, _ byte: UInt8) { d.write(offset: 4, size: 1, value: UInt64(byte)) }
    func data(_ d: I8042Device, _ byte: UInt8) { d.write(offset: 0, size: 1, value: UInt64(byte)) }
    func readData(_ d: I8042Device) -> UInt8 { UInt8(d.read(offset: 0, size: 1)) }
    func status(_ d: I8042Device) -> UInt8 { UInt8(d.read(offset: 4, size: 1)) }

    @Test func controllerSelfTestsAndConfigurationByteRoundTrip() {
        let (d, _) = makeDevice()
        #expect(status(d) & 0x01 == 0, "output buffer empty at start")
        #expect(status(d) & 0x10 != 0, "keyboard not inhibited (no 'Keylock active')")
        command(d, 0xAA)
        #expect(status(d) & 0x01 != 0)
        #expect(readData(d) == 0x55, "self-test passed")
        command(d, 0xAB)
        #expect(readData(d) == 0x00, "keyboard interface OK")
        command(d, 0x60); data(d, 0x47)
        command(d, 0x20)
        #expect(readData(d) == 0x47)
    }

    @Test func keyboardAnswersResetIdentifyAndLEDs() {
        let (d, _) = makeDevice()
        data(d, 0xFF)
        #expect(readData(d) == 0xFA)
        #expect(readData(d) == 0xAA)
        data(d, 0xF2)
        #expect([readData(d), readData(d), readData(d)] == [0xFA, 0xAB, 0x83])
        data(d, 0xED)
        #expect(readData(d) == 0xFA)
        data(d, 0x07)                                  // the LED bits: acknowledged, not a command
        #expect(readData(d) == 0xFA)
        #expect(status(d) & 0x01 == 0)
        data(d, 0x99)
        #expect(readData(d) == 0xFE, "unknown keyboard command: resend")
    }

    @Test func injectedCtrlAltDelRaisesTheInterruptAndReadsBackInOrder() {
        let (d, flags) = makeDevice()
        #expect(d.injectKeys(I8042Device.ctrlAltDel))
        #expect(flags.interrupts.withLock { $0 } >= 1)
        var bytes: [UInt8] = []
        while status(d) & 0x01 != 0 { bytes.append(readData(d)) }
        #expect(bytes == I8042Device.ctrlAltDel)
    }

    @Test func interruptsFollowTheConfigurationByte() {
        let (d, flags) = makeDevice()
        command(d, 0x60); data(d, 0x00)                // keyboard interrupt off
        let before = flags.interrupts.withLock { $0 }
        d.injectKeys([0x1C])
        #expect(flags.interrupts.withLock { $0 } == before)
        #expect(readData(d) == 0x1C, "still readable by polling")
    }

    @Test func aFullBufferRefusesInjectionInsteadOfDroppingKeys() {
        let (d, _) = makeDevice()
        var accepted = 0
        while d.injectKeys(I8042Device.ctrlAltDel) { accepted += 1 }
        #expect(accepted >= 1)
        while status(d) & 0x01 != 0 { _ = readData(d) }
        #expect(d.injectKeys(I8042Device.ctrlAltDel), "room again once the guest drained it")
    }

    @Test func commandFEPulsesTheResetLine() {
        let (d, flags) = makeDevice()
        command(d, 0xFE)
        #expect(flags.resets.withLock { $0 } == 1)
    }
}
