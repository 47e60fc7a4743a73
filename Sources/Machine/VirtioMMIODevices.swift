// Puts virtio devices on the machine over virtio-mmio: a 4 KiB window each from 0xD000_0000 in the
// 32-bit MMIO hole, an IRQ each from GSI 5 up (skipping the legacy ones in use), queue
// notifications through ioeventfds serviced on the event loop, interrupts through irqfds.
import BootLoader
import GuestMemory
import KVMCore
import Logging
import VirtioDevices

/// A virtio-mmio register window on the MMIO bus.
final class VirtioMMIOBusDevice: BusDevice {
    let transport: VirtioMMIOTransport
    init(_ transport: VirtioMMIOTransport) { self.transport = transport }
    func read(offset: UInt64, size: Int) -> UInt64 { transport.read(offset: offset, size: size) }
    func write(offset: UInt64, size: Int, value: UInt64) { transport.write(offset: offset, size: size, value: value) }
}

/// One device as placed: where the guest finds it.
public struct VirtioMMIOPlacement: Sendable, Equatable {
    public let name: String
    public let base: UInt64
    public let gsi: UInt32
    /// The kernel command-line form (`virtio_mmio.device=4K@0xd0000000:5`).
    public var commandLine: String { "virtio_mmio.device=4K@0x\(String(base, radix: 16)):\(gsi)" }
}

enum VirtioMMIOLayout {
    static let firstBase: UInt64 = 0xD000_0000
    static let windowSize: UInt64 = 0x1000
    /// IOAPIC pins free for devices: 1 (keyboard), 4 (COM1), 8 (RTC) and 12/14/15 stay legacy.
    static let gsis: [UInt32] = [5, 6, 7, 9, 10, 11, 13, 16, 17, 18, 19, 20, 21, 22, 23]

    static func placements(names: [String]) -> [VirtioMMIOPlacement] {
        names.enumerated().map { i, name in
            VirtioMMIOPlacement(name: name, base: firstBase + UInt64(i) * windowSize, gsi: gsis[i])
        }
    }
}

/// Everything one attached device holds on to: its transport and eventfds live as long as the VM.
final class AttachedVirtioDevice: Sendable {
    let placement: VirtioMMIOPlacement
    let transport: VirtioMMIOTransport
    let notifiers: [EventFD]
    let interrupt: EventFD

    init(device: any VirtioDevice, placement: VirtioMMIOPlacement, vm: VirtualMachine, memory: GuestMemoryMap,
         loop: EventLoop, logger: Logger) throws(KVMError) {
        self.placement = placement
        let irq = try EventFD()
        try vm.registerIrqfd(irq, gsi: placement.gsi)
        interrupt = irq
        // A guest that breaks the device's rules is the guest's problem, but the operator should
        // see why the device stopped: one warning per DEVICE_NEEDS_RESET.
        let name = placement.name
        let transport = VirtioMMIOTransport(device: device, memory: memory, onDeviceError: { error in
            logger.warning("\(name): device needs reset: \(error)")
        }) { try? irq.signal() }
        self.transport = transport
        // One ioeventfd per queue on QueueNotify with the queue index as datamatch: a guest kick
        // costs an eventfd write in the kernel, and the device work runs on the event loop thread.
        var notifiers: [EventFD] = []
        for queue in device.queueMaxSizes.indices {
            let event = try EventFD()
            try vm.registerIoeventfd(event, at: .mmio(GuestAddress(placement.base + VirtioMMIOTransport.queueNotifyOffset)),
                                     length: 4, datamatch: UInt64(queue))
            try loop.add(event.fileDescriptor.rawValue) { [weak transport] in
                _ = try? event.consume()
                transport?.notify(queue: queue)
            }
            notifiers.append(event)
        }
        self.notifiers = notifiers
    }

    var busEntry: AddressBus.Entry {
        AddressBus.Entry(name: placement.name, base: placement.base, length: VirtioMMIOLayout.windowSize,
                         device: VirtioMMIOBusDevice(transport))
    }
}
