// A whole virtual machine: memory, vCPUs on their own threads, the port-I/O and MMIO buses, and the
// lifecycle. Built top to bottom in `init` (memory, image, vCPUs, devices), started by `run()`.
import BootLoader
import GuestMemory
import KVMCore
import Logging
import Synchronization
import VirtioDevices

public final class MicroVM: Sendable {
    /// Where KVM puts its real-mode TSS on Intel (three pages just below the BIOS area, outside RAM).
    static let kvmTSSAddress = GuestAddress(0xFFFB_D000)

    /// The configuration as given, except the image's bytes (`BootImage.withoutBytes`): they are
    /// in guest memory once loaded, and a kept copy (16 MiB for a vmlinux) would be most of the
    /// VMM's own memory for the VM's whole life.
    public let configuration: MachineConfiguration
    public let kvm: KVM
    public let vm: VirtualMachine
    public let memory: GuestMemoryMap
    public let vcpus: [VCPU]
    public let portBus: AddressBus
    public let mmioBus: AddressBus
    /// Device I/O thread: console input now, virtio queues later.
    public let eventLoop: EventLoop
    /// Firecracker-compatible boot-time device, when the configuration asked for it.
    public let bootTimer: BootTimerDevice?
    /// Boot-stage codes the guest wrote to port 0x80.
    public let postCodes: PostCodePort
    /// QEMU's firmware configuration interface; add files before `run()`.
    public let firmwareConfig: FwCfgDevice
    let serial: SerialPort
    /// virtio-mmio devices in placement order, and the disk backends to flush when the VM ends.
    let virtioDevices: [AttachedVirtioDevice]
    let diskBackends: [any BlockBackend]
    /// virtio-net devices joined to their taps on the event loop.
    let netLinks: [VirtioNetLink]
    /// COM1 on a Unix socket, when configured.
    public let serialSocket: UnixSocketConsole?
    /// The virtio console's host side (its pty path, the device), when configured.
    public let console: VirtioConsoleHost?
    /// UART → socket console link; cleared in deinit to break the UART ⇄ console reference cycle.
    let socketBox = SocketConsoleBox()
    let keyboard: I8042Device
    /// The ACPI power button's event device: Linux images that boot with ACPI only.
    let powerButton: GenericEventDevice?
    let entry: X86EntryState
    let logger: Logger

    private let exitReason = Mutex<MachineExit?>(nil)
    private let haltedCount = Atomic<Int>(0)

    public convenience init(configuration: MachineConfiguration) throws(MachineError) {
        try self.init(configuration: configuration, extraPortDevices: [], mmioDevices: [])
    }

    /// Builds the machine. `extraPortDevices` / `mmioDevices` let embedders and tests add devices.
    public init(configuration c: MachineConfiguration, extraPortDevices: [AddressBus.Entry],
                mmioDevices: [AddressBus.Entry]) throws(MachineError) {
        let constructionStart = BootTimestamp.now()   // what boot times are measured from
        configuration = c.withoutImageBytes
        logger = c.logger
        guard c.memorySize >= FlatX86Layout.minimumRAM, c.memorySize % 4096 == 0 else {
            throw .invalidConfiguration(field: "memory", expected: "a multiple of 4 KiB, at least 1 MiB (got \(c.memorySize) bytes)")
        }
        do {
            kvm = try KVM()
            let maxVCPUs = Int(max(try kvm.checkExtension(.maxVCPUs), 1))
            guard (1...maxVCPUs).contains(c.vcpuCount) else {
                throw MachineError.invalidConfiguration(field: "cpus", expected: "1...\(maxVCPUs) (got \(c.vcpuCount))")
            }
            vm = try kvm.createVM()
            try vm.setTSSAddress(Self.kvmTSSAddress)
        } catch let e as MachineError { throw e } catch let e as KVMError { throw .kvm(e) } catch { throw .kvm(.invalidArgument(.createVM, "\(error)")) }

        // Memory: anonymous RAM from 0 (split around the 32-bit MMIO hole when large), one slot each.
        do { memory = try GuestMemoryMap.anonymous(size: c.memorySize) } catch { throw .memory(error) }
        do {
            for (slot, region) in memory.regions.enumerated() { try vm.mapMemory(slot: UInt32(slot), region: region) }
        } catch { throw .kvm(error) }

        // Virtio devices: open the backends first, so a bad disk is reported before anything runs.
        var backends: [any BlockBackend] = []
        var devices: [(name: String, device: any VirtioDevice)] = []
        for (i, disk) in c.disks.enumerated() {
            do {
                let backend: any BlockBackend = if let overlay = disk.overlayPath, !disk.readOnly {
                    try CopyOnWriteBlockBackend(basePath: disk.path, overlayPath: overlay, serial: disk.serial)
                } else {
                    try BlockFileBackend(path: disk.path, readOnly: disk.readOnly, serial: disk.serial)
                }
                backends.append(backend)
                devices.append(("virtio-blk\(i)", VirtioBlock(backend: backend)))
            } catch {
                throw .invalidConfiguration(field: "disk[\(i)].path", expected: "a readable raw image or block device at '\(disk.path)' (\(error))")
            }
        }
        if c.rng { devices.append(("virtio-rng", VirtioRNG())) }
        if let choice = c.console {
            if case let .fileDescriptors(input?, _) = choice, input == c.serialInput {
                throw .invalidConfiguration(field: "console", expected: "an input other than COM1's (fd \(input) would be read twice)")
            }
            let host: VirtioConsoleHost
            do { host = try VirtioConsoleHost(choice, logger: c.logger) } catch {
                throw .invalidConfiguration(field: "console", expected: "a usable console backend (\(error))")
            }
            console = host
            devices.append(("virtio-console", host.device))
        } else {
            console = nil
        }
        var netDevices: [(VirtioNet, TapBackend)] = []
        for (i, net) in c.net.enumerated() {
            let made = try VirtioNetLink.makeDevice(net, index: i, logger: c.logger)
            netDevices.append(made)
            devices.append(("virtio-net\(i)", made.0))
        }
        guard devices.count <= VirtioMMIOLayout.gsis.count else {
            throw .invalidConfiguration(field: "disk", expected: "at most \(VirtioMMIOLayout.gsis.count) virtio devices")
        }
        diskBackends = backends
        if c.image.isLinux || !devices.isEmpty {
            // PIC + IOAPIC + local APICs and the PIT in the kernel: interrupts never leave it. Simple
            // test guests get them too when they drive virtio devices (whose irqfds need a GSI).
            do {
                try vm.createIRQChip()
                try vm.createPIT2()
            } catch { throw .kvm(error) }
        }
        let placements = VirtioMMIOLayout.placements(names: devices.map(\.name))

        // Image and entry state.
        entry = try Self.load(c.image, into: memory, vcpuCount: c.vcpuCount, template: c.cpuTemplate,
                              virtio: placements, logger: c.logger)

        // vCPUs: CPUID from what KVM supports (long mode needs LM visible), APIC id per vCPU.
        do {
            let supported = try kvm.supportedCPUID()
            var list: [VCPU] = []
            for index in 0..<c.vcpuCount {
                let vcpu = try vm.createVCPU(id: UInt32(index))
                try vcpu.setCPUID(c.cpuTemplate.cpuid(from: supported, apicID: UInt32(index), vcpuCount: c.vcpuCount))
                if c.image.isLinux {
                    try X86LinuxVCPUSetup.setBootMSRs(vcpu)
                    try X86LinuxVCPUSetup.wireLINTs(vcpu)
                    // Only the bootstrap processor starts at the entry; the others wait for INIT/SIPI
                    // in the in-kernel APIC (KVM's default state for vCPUs other than 0).
                    if index == 0 { try X86VCPUSetup.apply(entry, to: vcpu, index: index) }
                } else {
                    try X86VCPUSetup.apply(entry, to: vcpu, index: index)
                }
                list.append(vcpu)
            }
            vcpus = list
            try VCPUKicker.prepare()
        } catch { throw .kvm(error) }

        // Devices. The closures capture a weak reference: devices must not keep the machine alive.
        let exitBox = WeakMachine()
        var serialInterrupt: (@Sendable () -> Void)? = nil
        var keyboardInterrupt: (@Sendable () -> Void)? = nil
        var button: GenericEventDevice? = nil
        if c.image.isLinux {
            // Device IRQs through irqfds (COM1 on 4, the keyboard on 1, the power button's event
            // device on 15): raising one is an eventfd write, never a trip through the VMM's own
            // interrupt logic.
            do {
                serialInterrupt = try Self.irqLine(vm, gsi: 4)
                keyboardInterrupt = try Self.irqLine(vm, gsi: 1)
                if c.image.usesACPI { button = GenericEventDevice(interrupt: try Self.irqLine(vm, gsi: GenericEventDevice.gsi)) }
            } catch { throw .kvm(error) }
        }
        powerButton = button
        // The socket console (if any) needs the UART and the UART's sink needs the console: a box
        // filled once both exist breaks the cycle.
        let socketBox = self.socketBox
        let sink = c.serialSink
        var serialSink: SerialSink = sink
        if c.serialSocketPath != nil {
            serialSink = { byte in
                sink(byte)
                let console = socketBox.console.withLock { $0 }
                console?.send(byte)
            }
        }
        let serial = SerialPort(sink: serialSink, interrupt: serialInterrupt)
        let i8042 = I8042Device(interrupt: keyboardInterrupt) { exitBox.machine?.requestStop(.reset) }
        keyboard = i8042
        self.serial = serial
        let loop: EventLoop
        var socketConsole: UnixSocketConsole? = nil
        do { loop = try EventLoop() } catch { throw .kvm(error) }
        if let path = c.serialSocketPath {
            do { socketConsole = try UnixSocketConsole(path: path, input: serial, logger: c.logger) } catch {
                throw .invalidConfiguration(field: "serialSocketPath", expected: "a path to listen at (\(error))")
            }
        }
        eventLoop = loop
        serialSocket = socketConsole
        var attached: [AttachedVirtioDevice] = []
        do {
            for (placement, entry) in zip(placements, devices) {
                attached.append(try AttachedVirtioDevice(device: entry.device, placement: placement, vm: vm,
                                                         memory: memory, loop: loop, logger: c.logger))
            }
        } catch { throw .kvm(error) }
        virtioDevices = attached
        do {
            netLinks = try netDevices.map { (device, backend) throws(KVMError) in
                try VirtioNetLink(device: device, backend: backend, loop: loop, logger: c.logger)
            }
        } catch { throw .kvm(error) }
        socketBox.console.withLock { $0 = socketConsole }
        let debugExit = DebugExitDevice { value in exitBox.machine?.requestStop(.debugExit(value)) }
        let portEntries = [
            AddressBus.Entry(name: "serial0", base: UInt64(SerialPort.com1Base), length: SerialPort.registerCount, device: serial),
            AddressBus.Entry(name: "debug-exit", base: UInt64(DebugExitDevice.defaultPort), length: 1, device: debugExit),
            AddressBus.Entry(name: "i8042", base: UInt64(I8042Device.dataPort), length: I8042Device.length, device: i8042),
            AddressBus.Entry(name: "acpi-power", base: UInt64(ACPIPowerDevice.base), length: ACPIPowerDevice.length,
                             device: ACPIPowerDevice(onPowerOff: { exitBox.machine?.requestStop(.poweredOff) },
                                                     onReset: { exitBox.machine?.requestStop(.reset) })),
        ] + (button.map { [AddressBus.Entry(name: "acpi-ged", base: UInt64(GenericEventDevice.port),
                                               length: GenericEventDevice.length, device: $0)] } ?? [])
        let stageLog: @Sendable (String) -> Void = c.bootTimerLog ?? { [logger = c.logger] line in logger.debug("\(line)") }
        postCodes = PostCodePort(start: constructionStart, log: stageLog)
        firmwareConfig = FwCfgDevice(ramSize: c.memorySize, cpuCount: c.vcpuCount, memory: memory)
        let legacyEntries = [
            AddressBus.Entry(name: "post-code", base: 0x80, length: 1, device: postCodes),
            AddressBus.Entry(name: "io-delay", base: 0xED, length: 1, device: IODelayPort()),
            AddressBus.Entry(name: "cmos", base: UInt64(CMOSDevice.port), length: CMOSDevice.length,
                             device: CMOSDevice(memory: memory, vcpuCount: c.vcpuCount)),
            AddressBus.Entry(name: "fw_cfg", base: UInt64(FwCfgDevice.port), length: FwCfgDevice.length, device: firmwareConfig),
        ]
        var mmioEntries = mmioDevices + attached.map(\.busEntry)
        if let log = c.bootTimerLog {
            let timer = BootTimerDevice(start: constructionStart, log: log)
            bootTimer = timer
            mmioEntries.append(AddressBus.Entry(name: "boot-timer", base: BootTimerDevice.defaultBase,
                                                length: BootTimerDevice.length, device: timer))
        } else {
            bootTimer = nil
        }
        do {
            portBus = try AddressBus(kind: "pio", entries: portEntries + legacyEntries + extraPortDevices, logger: c.logger)
            mmioBus = try AddressBus(kind: "mmio", entries: mmioEntries, logger: c.logger)
        } catch { throw .bus(error) }
        exitBox.machine = self
    }

    deinit {
        socketBox.console.withLock { $0 = nil }
    }

    static func load(_ image: BootImage, into memory: GuestMemoryMap, vcpuCount: Int, template: CPUTemplate,
                     virtio: [VirtioMMIOPlacement], logger: Logger) throws(MachineError) -> X86EntryState {
        if case let .linux(kernel, initrd, cmdline) = image {
            // Virtio devices are described in the DSDT; a kernel told not to use ACPI learns of them
            // from the command line instead (announcing both would probe each device twice).
            let virtioArguments = image.usesACPI ? [] : virtio.map(\.commandLine)
            let full = ([cmdline] + template.kernelArguments.filter { !cmdline.contains($0) } + virtioArguments)
                .filter { !$0.isEmpty }.joined(separator: " ")
            // Firmware tables: ACPI (RSDP, XSDT, FADT, MADT, DSDT) for kernels that use it, and an MP
            // table for those booted with acpi=off, so both find every vCPU and the IOAPIC.
            let acpi: ACPIWriteResult
            do {
                let mmio = virtio.map { ACPIConfiguration.VirtioMMIODevice(base: $0.base, irq: $0.gsi) }
                let tables = ACPIConfiguration(vcpuCount: vcpuCount, virtioMMIO: mmio, describeI8042: true,
                                               powerButtonGSI: GenericEventDevice.gsi)
                acpi = try ACPITables.write(tables, into: memory)
                try MPTable(vcpuCount: vcpuCount).write(into: memory)
            } catch { throw .firmware(error) }
            do {
                let options = LinuxBootOptions(rsdp: acpi.rsdp, reservedRanges: [acpi.e820Entry])
                let result = try LinuxLoader.load(kernel: kernel, initrd: initrd, cmdline: full, memory: memory,
                                                  options: options)
                logger.info("loaded Linux", metadata: ["protocol": "\(result.bootProtocol)", "cmdline": "\(full)"])
                return result.entryState
            } catch { throw .linux(error) }
        }
        do {
            switch image {
            case let .elf(bytes):
                let loaded = try ELFLoader.load(bytes, into: memory)
                let mode: X86EntryState.Mode = loaded.elfClass == .elf64 ? .long64 : .protected32
                return try FlatX86Setup.prepare(memory, mode: mode, entry: loaded.entry)
            case let .flat(bytes, address, mode):
                _ = try FlatBinaryLoader.load(bytes, at: address, into: memory)
                return try FlatX86Setup.prepare(memory, mode: mode, entry: address)
            case .linux:
                throw MachineError.invalidConfiguration(field: "kernel", expected: "handled above")
            }
        } catch let e as ImageLoadError { throw .image(e) } catch let e as FlatX86SetupError { throw .setup(e) } catch {
            throw .invalidConfiguration(field: "kernel", expected: "a loadable image (\(error))")
        }
    }

    static func irqLine(_ vm: VirtualMachine, gsi: UInt32) throws(KVMError) -> @Sendable () -> Void {
        let event = try EventFD()
        try vm.registerIrqfd(event, gsi: gsi)
        return { try? event.signal() }
    }

    /// Presses Ctrl-Alt-Del on the guest's keyboard: the graceful-shutdown request a Linux init that
    /// disabled CAD receives as SIGINT. False when the guest has not drained earlier keys yet.
    @discardableResult
    public func sendCtrlAltDel() -> Bool { keyboard.injectKeys(I8042Device.ctrlAltDel) }

    /// Presses the ACPI power button (the Generic Event Device in the DSDT): the shutdown request
    /// systemd, acpid and Windows guests act on. False when the guest has no ACPI (not a Linux
    /// image, or booted with `acpi=off`), where only `sendCtrlAltDel()` can ask.
    @discardableResult
    public func pressPowerButton() -> Bool {
        guard let powerButton else { return false }
        powerButton.pressPowerButton()
        return true
    }

    // MARK: running

    /// Runs every vCPU on its own thread until the machine ends; returns how it ended.
    public func run() throws(MachineError) -> MachineExit {
        // The loop's handlers hold the input weakly: it lives exactly as long as this run.
        let input = configuration.serialInput.map { ConsoleInput(fd: $0, target: serial, loop: eventLoop) }
        do { try input?.start() } catch {
            // A closed or unpollable input (a regular file, /dev/null: EPERM) must not stop the
            // guest: it just gets no console input.
            if error.errno == .notPermitted {
                logger.info("serial input is not pollable (a regular file or /dev/null): no console input")
            } else {
                logger.warning("serial input unavailable: \(error)")
            }
        }
        do {
            try serialSocket?.start(on: eventLoop)
            try console?.start(on: eventLoop)
        } catch { throw .kvm(error) }
        let loopStatus = eventLoop.start()
        guard loopStatus == 0 else { throw .thread(name: "event-loop", errno: loopStatus) }
        defer {
            eventLoop.stop()
            withExtendedLifetime(input) {}
            // Nothing the guest wrote may be lost, however the VM ended: flush every disk.
            for (i, disk) in diskBackends.enumerated() {
                if case let .failure(error) = disk.flush() { logger.error("disk \(i): flush failed: \(error)") }
            }
        }
        var threads: [VCPUThread] = []
        for (index, vcpu) in vcpus.enumerated() {
            let thread = VCPUThread(name: "vcpu\(index)") { [self] in runLoop(vcpu, index: index) }
            let r = thread.start()
            if r != 0 {
                requestStop(.stopped(reason: "could not start vcpu\(index)"))
                threads.forEach { $0.join() }
                throw .thread(name: thread.name, errno: r)
            }
            threads.append(thread)
        }
        if configuration.releaseStartupPages {
            switch StartupPages.release() {
            case let .success(bytes): logger.debug("released \(bytes >> 10) KiB of start-up pages")
            case let .failure(errno): logger.info("start-up pages not released: \(errno)")
            }
        }
        for t in threads { t.join() }
        return exitReason.withLock { $0 } ?? .stopped(reason: "no exit reason recorded")
    }

    /// Ends the machine from any thread (a device, a signal handler thread, the API). The first
    /// reason wins; every vCPU is kicked out of KVM_RUN.
    public func requestStop(_ reason: MachineExit) {
        let first = exitReason.withLock { current in
            if current == nil { current = reason; return true }
            return false
        }
        guard first else { return }
        for vcpu in vcpus {
            do { try vcpu.kicker.kick() } catch { logger.error("cannot kick vcpu\(vcpu.id): \(error)") }
        }
    }

    var isStopping: Bool { exitReason.withLock { $0 != nil } }

    private func runLoop(_ vcpu: VCPU, index: Int) {
        while !isStopping {
            let exit: VCPUExit
            do { exit = try vcpu.run() } catch {
                requestStop(.guestError(diagnosis: "vcpu\(index): \(error)"))
                return
            }
            switch exit {
            case let .ioOut(port, size, count, value):
                if count == 1 {
                    portBus.write(UInt64(port), size: Int(size), value: UInt64(value))
                } else {
                    let bytes = vcpu.ioOutBytes()
                    for element in stride(from: 0, to: bytes.count, by: Int(size)) {
                        var v: UInt64 = 0
                        for b in 0..<Int(size) where element + b < bytes.count { v |= UInt64(bytes[element + b]) << (8 * UInt64(b)) }
                        portBus.write(UInt64(port), size: Int(size), value: v)
                    }
                }
            case let .ioIn(port, size, count):
                if count == 1 {
                    vcpu.completeIOIn(UInt32(truncatingIfNeeded: portBus.read(UInt64(port), size: Int(size))))
                } else {
                    var bytes: [UInt8] = []
                    for _ in 0..<count {
                        let v = portBus.read(UInt64(port), size: Int(size))
                        for b in 0..<Int(size) { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(b)))) }
                    }
                    vcpu.completeIOIn(bytes: bytes)
                }
            case let .mmioWrite(address, length, value):
                mmioBus.write(address.raw, size: Int(length), value: value)
            case let .mmioRead(address, length):
                vcpu.completeMMIORead(mmioBus.read(address.raw, size: Int(length)))
            case .hlt:
                // Only without the in-kernel irqchip does HLT reach user space; then nothing can wake
                // a halted vCPU: it is done.
                if haltedCount.add(1, ordering: .acquiringAndReleasing).newValue == vcpus.count {
                    requestStop(.halted)
                }
                return
            case .interrupted, .irqWindowOpen:
                continue
            case let .systemEvent(event, _):
                switch event {
                case .shutdown: requestStop(.poweredOff)
                case .reset: requestStop(.reset)
                default: requestStop(.guestError(diagnosis: diagnose(vcpu, index: index, exit: exit)))
                }
                return
            case .shutdown, .internalError, .failEntry, .unknown, .debug, .exception:
                requestStop(.guestError(diagnosis: diagnose(vcpu, index: index, exit: exit)))
                return
            }
        }
    }
}

/// Where the UART's output finds the socket console, which is created after the UART.
final class SocketConsoleBox: Sendable {
    let console = Mutex<UnixSocketConsole?>(nil)
}

/// A weak back-reference from devices to the machine, set once construction has finished.
final class WeakMachine: @unchecked Sendable {
    // @unchecked: written once during MicroVM.init, before any vCPU thread exists; read afterwards.
    weak var machine: MicroVM?
}
