// irqfd, ioeventfd, MSI and GSI routing: the paths that let devices and the guest signal each other
// without a trip through a vCPU thread.
import CKVM
import GuestMemory
import SystemPackage

/// Where an ioeventfd listens.
public enum IOEventAddress: Sendable, Hashable {
    case pio(UInt16)
    case mmio(GuestAddress)
}

/// One GSI routing entry.
public enum GSIRoute: Sendable, Hashable {
    /// A pin of the in-kernel PIC master (0), PIC slave (1) or IOAPIC (2).
    case irqchip(gsi: UInt32, chip: UInt32, pin: UInt32)
    /// An MSI message.
    case msi(gsi: UInt32, addressLow: UInt32, addressHigh: UInt32, data: UInt32)
}

extension VirtualMachine {
    /// Every write of the eventfd raises `gsi`. With `resample`, the line is level-triggered and
    /// KVM signals `resample` when the guest acknowledges it.
    public func registerIrqfd(_ event: EventFD, gsi: UInt32, resample: EventFD? = nil) throws(KVMError) {
        var req = kvm_irqfd()
        req.fd = UInt32(bitPattern: event.fileDescriptor.rawValue)
        req.gsi = gsi
        if let resample {
            req.flags = UInt32(KVM_IRQFD_FLAG_RESAMPLE)
            req.resamplefd = UInt32(bitPattern: resample.fileDescriptor.rawValue)
        }
        try ioctlPointer(fd, CKVM_IRQFD, &req, .irqfd)
    }

    public func unregisterIrqfd(_ event: EventFD, gsi: UInt32) throws(KVMError) {
        var req = kvm_irqfd()
        req.fd = UInt32(bitPattern: event.fileDescriptor.rawValue)
        req.gsi = gsi
        req.flags = UInt32(KVM_IRQFD_FLAG_DEASSIGN)
        try ioctlPointer(fd, CKVM_IRQFD, &req, .irqfd)
    }

    /// Guest writes of `length` bytes (1, 2, 4 or 8; 0 = any length for MMIO) to `address` signal
    /// `event` instead of exiting to user space. With `datamatch`, only writes of that value do.
    public func registerIoeventfd(_ event: EventFD, at address: IOEventAddress, length: UInt32,
                                  datamatch: UInt64? = nil) throws(KVMError) {
        var req = try ioeventfdRequest(event, address, length, datamatch)
        try ioctlPointer(fd, CKVM_IOEVENTFD, &req, .ioeventfd)
    }

    public func unregisterIoeventfd(_ event: EventFD, at address: IOEventAddress, length: UInt32,
                                    datamatch: UInt64? = nil) throws(KVMError) {
        var req = try ioeventfdRequest(event, address, length, datamatch)
        req.flags |= UInt32(1 << kvm_ioeventfd_flag_nr_deassign)
        try ioctlPointer(fd, CKVM_IOEVENTFD, &req, .ioeventfd)
    }

    private func ioeventfdRequest(_ event: EventFD, _ address: IOEventAddress, _ length: UInt32,
                                  _ datamatch: UInt64?) throws(KVMError) -> kvm_ioeventfd {
        guard [0, 1, 2, 4, 8].contains(length) else {
            throw KVMError.invalidArgument(.ioeventfd, "length \(length) (expected 0, 1, 2, 4 or 8)")
        }
        var req = kvm_ioeventfd()
        req.fd = event.fileDescriptor.rawValue
        req.len = length
        switch address {
        case let .pio(port):
            req.addr = UInt64(port)
            req.flags |= UInt32(1 << kvm_ioeventfd_flag_nr_pio)
        case let .mmio(a):
            req.addr = a.raw
        }
        if let datamatch {
            guard length != 0 else { throw KVMError.invalidArgument(.ioeventfd, "datamatch needs a length") }
            req.datamatch = datamatch
            req.flags |= UInt32(1 << kvm_ioeventfd_flag_nr_datamatch)
        }
        return req
    }

    /// Injects one MSI. Returns true when the guest accepted it, false when it was blocked.
    @discardableResult
    public func signalMSI(addressLow: UInt32, addressHigh: UInt32 = 0, data: UInt32) throws(KVMError) -> Bool {
        var msi = kvm_msi()
        msi.address_lo = addressLow
        msi.address_hi = addressHigh
        msi.data = data
        return try ioctlPointer(fd, CKVM_SIGNAL_MSI, &msi, .signalMSI) > 0
    }

    /// Replaces the whole GSI routing table.
    public func setGSIRouting(_ routes: [GSIRoute]) throws(KVMError) {
        guard routes.count <= 4096 else { throw KVMError.invalidArgument(.setGSIRouting, "\(routes.count) routes (at most 4096)") }
        guard let table = unsafe ckvm_irq_routing_alloc(UInt32(routes.count)) else {
            throw KVMError.system(.setGSIRouting, errno: .noMemory)
        }
        defer { unsafe ckvm_free(table) }
        let entries = unsafe ckvm_irq_routing_entries(table)
        for (i, route) in routes.enumerated() {
            var e = kvm_irq_routing_entry()
            switch route {
            case let .irqchip(gsi, chip, pin):
                e.gsi = gsi
                e.type = UInt32(KVM_IRQ_ROUTING_IRQCHIP)
                e.u.irqchip.irqchip = chip
                e.u.irqchip.pin = pin
            case let .msi(gsi, lo, hi, data):
                e.gsi = gsi
                e.type = UInt32(KVM_IRQ_ROUTING_MSI)
                e.u.msi.address_lo = lo
                e.u.msi.address_hi = hi
                e.u.msi.data = data
            }
            // Sound: i < routes.count, the number of entries allocated.
            unsafe (entries! + i).pointee = e
        }
        // Sound: `table` holds nr = routes.count entries.
        try ioctlRaw(fd, CKVM_SET_GSI_ROUTING, UnsafeMutableRawPointer(table), .setGSIRouting)
    }
}
