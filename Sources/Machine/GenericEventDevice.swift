// The host side of the DSDT's Generic Event Device (ACPI0013, see BootLoader's ACPIDSDT.swift): an
// event register at ACPIPorts.genericEventStatus and an edge interrupt. Pressing the power button
// sets its bit and pulses the interrupt; Linux's evged driver runs `_EVT`, which reads the register
// (the read clears it) and notifies PNP0C0C, so the guest sees KEY_POWER and shuts down the way
// systemd-logind, acpid or Windows do on a real machine. This is the graceful-shutdown request
// KubeVirt (through libvirt) sends; Ctrl-Alt-Del would make a systemd guest reboot instead.
import BootLoader
import Synchronization

public final class GenericEventDevice: BusDevice {
    public static let port = ACPIPorts.genericEventStatus
    public static let length: UInt64 = 1
    /// The GSI the DSDT gives the device: outside the virtio pool (VirtioMMIOLayout.gsis) and the
    /// legacy devices' lines (1 keyboard, 4 COM1).
    public static let gsi: UInt32 = 15

    private let pending = Mutex<UInt8>(0)
    private let interrupt: @Sendable () -> Void

    /// `interrupt` pulses the device's GSI (an irqfd write).
    public init(interrupt: @escaping @Sendable () -> Void) {
        self.interrupt = interrupt
    }

    /// Presses the power button: the event stays pending until the guest's `_EVT` reads it, so a
    /// second press before then is one event, as with a real button's latch.
    public func pressPowerButton() {
        pending.withLock { $0 |= ACPIPorts.powerButtonEvent }
        interrupt()
    }

    /// The pending events; reading acknowledges them (the `_EVT` method reads exactly once).
    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset == 0 else { return 0 }
        return UInt64(pending.withLock { value in
            defer { value = 0 }
            return value
        })
    }

    /// The field is WriteAsZeros and the guest has no reason to write: writes are ignored.
    public func write(offset: UInt64, size: Int, value: UInt64) {}
}
