// The ACPI power button's Generic Event Device without KVM: latching, acknowledging, the interrupt.
import BootLoader
import Machine
import Synchronization
import Testing

/// The power button's event register: a press latches the event and pulses the interrupt; the
/// guest's `_EVT` read returns it once and clears it.
@Suite struct GenericEventDeviceTests {
    @Test func aPressIsLatchedUntilReadAndReadClears() {
        let pulses = Mutex(0)
        let ged = GenericEventDevice(interrupt: { pulses.withLock { $0 += 1 } })
        #expect(ged.read(offset: 0, size: 1) == 0)
        ged.pressPowerButton()
        ged.pressPowerButton()
        #expect(pulses.withLock { $0 } == 2)
        #expect(ged.read(offset: 0, size: 1) == UInt64(ACPIPorts.powerButtonEvent), "two presses before the read: one event")
        #expect(ged.read(offset: 0, size: 1) == 0, "the read acknowledged it")
        ged.write(offset: 0, size: 1, value: 0xFF)
        #expect(ged.read(offset: 0, size: 1) == 0, "writes do not raise events")
        #expect(GenericEventDevice.port == 0x3C4 && GenericEventDevice.length == 1)
    }
}
