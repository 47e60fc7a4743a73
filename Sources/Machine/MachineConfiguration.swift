// What a machine is made of, as plain values: validated by MicroVM before anything is built.
import BootLoader
import GuestMemory
import KVMCore
import Logging
import VirtioDevices

/// A guest image and how to enter it.
public enum BootImage: Sendable {
    /// A static ELF executable: ELF64 is entered in 64-bit long mode, ELF32 in 32-bit protected mode.
    case elf(bytes: [UInt8])
    /// A raw image copied to `loadAddress` and entered there in `mode`.
    case flat(bytes: [UInt8], loadAddress: GuestAddress, mode: X86EntryState.Mode)
    /// A Linux kernel (ELF vmlinux, PVH preferred, or bzImage) with an optional initrd and command
    /// line. The machine gets the in-kernel irqchip and PIT; application processors wait for SIPI.
    case linux(kernel: [UInt8], initrd: [UInt8]?, cmdline: String)

    var isLinux: Bool { if case .linux = self { return true } else { return false } }
    /// A Linux image whose command line leaves ACPI on: the guest reads the DSDT (its virtio devices,
    /// the power button) instead of `virtio_mmio.device=` arguments.
    var usesACPI: Bool {
        guard case let .linux(_, _, cmdline) = self else { return false }
        return !cmdline.split(separator: " ").contains("acpi=off")
    }

    /// The same image with its byte arrays emptied (the command line, load address and mode kept).
    public var withoutBytes: BootImage {
        switch self {
        case .elf: .elf(bytes: [])
        case let .flat(_, address, mode): .flat(bytes: [], loadAddress: address, mode: mode)
        case let .linux(_, initrd, cmdline): .linux(kernel: [], initrd: initrd.map { _ in [] }, cmdline: cmdline)
        }
    }

    /// Chooses by content: an ELF magic means ELF, anything else is a flat binary.
    public static func detect(_ bytes: [UInt8], loadAddress: GuestAddress? = nil, mode: X86EntryState.Mode? = nil) -> BootImage {
        if bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 {
            return .elf(bytes: bytes)
        }
        let m = mode ?? .long64
        let defaultAddress = m == .real ? FlatX86Layout.realModeLoadAddress : FlatX86Layout.imageLoadAddress
        return .flat(bytes: bytes, loadAddress: loadAddress ?? defaultAddress, mode: m)
    }
}

/// A virtio-blk disk backed by a raw image file or a block device.
public struct DiskConfiguration: Sendable, Equatable {
    public var path: String
    public var readOnly: Bool
    /// What the guest reads with GET_ID (/sys/block/vdX/serial), at most 20 bytes.
    public var serial: String
    /// Copy-on-write: `path` is a read-only base that is never modified and the guest's writes go
    /// to this overlay file (created when missing; see CopyOnWriteBlockBackend). nil: writes go to `path`.
    public var overlayPath: String?
    public init(path: String, readOnly: Bool = false, serial: String = "", overlayPath: String? = nil) {
        self.path = path; self.readOnly = readOnly; self.serial = serial; self.overlayPath = overlayPath
    }
}

/// A virtio-net device backed by a Linux tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).
public struct NetConfiguration: Sendable, Equatable {
    public enum Tap: Sendable, Equatable, CustomStringConvertible {
        /// Created or attached by name in the VMM's network namespace.
        case name(String)
        /// Already open (a pod launcher passes it); the machine takes ownership and closes it.
        case fileDescriptor(Int32)
        public var description: String {
            switch self {
            case let .name(name): "tap=\(name)"
            case let .fileDescriptor(fd): "fd=\(fd)"
            }
        }
    }
    public var tap: Tap
    /// The guest's MAC address; nil for a random locally administered 52:54:00:xx:xx:xx.
    public var mac: MACAddress?
    public init(tap: Tap, mac: MACAddress? = nil) { self.tap = tap; self.mac = mac }
}

public struct MachineConfiguration: Sendable {
    /// Guest RAM in bytes (a multiple of 4 KiB, at least 1 MiB).
    public var memorySize: UInt64
    /// Number of vCPUs (1...maxVCPUs). For simple guests every vCPU starts at the image's entry with
    /// rdi = its index; a vCPU that halts is done, and the VM ends when all have halted.
    public var vcpuCount: Int
    public var image: BootImage
    /// Receives every byte the guest writes to COM1.
    public var serialSink: SerialSink
    /// A readable file descriptor whose bytes the guest receives on COM1 (stdin, a pty, a socket);
    /// nil for none. The machine does not close it.
    public var serialInput: Int32? = nil
    /// virtio-blk disks (Linux guests), in order: the first is /dev/vda.
    public var disks: [DiskConfiguration] = []
    /// A virtio-rng device fed from getrandom(2) (Linux guests).
    public var rng = false
    /// A virtio console (one port) and where it is connected; nil for none. Linux guests use it
    /// as hvc0 (`console=hvc0`).
    public var console: ConsoleConfiguration? = nil
    /// virtio-net devices over tap devices (Linux guests), in order: the first is eth0.
    public var net: [NetConfiguration] = []
    /// Also serve COM1 on a Unix socket at this path (one client at a time: input to the guest, a
    /// copy of its output back); nil for none.
    public var serialSocketPath: String? = nil
    /// Receives the boot-time device's `Guest-boot-time = ...` line (Firecracker's --boot-timer) and the
    /// port 0x80 boot-stage timestamps; nil keeps the boot-time device off the bus.
    public var bootTimerLog: (@Sendable (String) -> Void)? = nil
    /// CPUID changes (see CPUTemplate); `.host` changes nothing.
    public var cpuTemplate: CPUTemplate
    /// Once every vCPU runs, release this process's resident start-up pages (StartupPages): the
    /// `vmm` binary does, an embedder whose process does more than run one VM may not want to.
    public var releaseStartupPages = false
    public var logger: Logger

    public init(memorySize: UInt64 = 128 << 20, vcpuCount: Int = 1, image: BootImage,
                cpuTemplate: CPUTemplate = .host,
                serialSink: @escaping SerialSink, logger: Logger = Logger(label: "vmm")) {
        self.memorySize = memorySize
        self.vcpuCount = vcpuCount
        self.image = image
        self.cpuTemplate = cpuTemplate
        self.serialSink = serialSink
        self.logger = logger
    }
}

extension MachineConfiguration {
    /// This configuration with `image.withoutBytes`.
    public var withoutImageBytes: MachineConfiguration {
        var c = self
        c.image = image.withoutBytes
        return c
    }
}

/// Why building or running a machine failed.
public enum MachineError: Error, Sendable, CustomStringConvertible {
    /// A configuration value is out of range: names the field and what was expected.
    case invalidConfiguration(field: String, expected: String)
    case kvm(KVMError)
    case memory(GuestMemoryError)
    case image(ImageLoadError)
    case linux(LinuxLoadError)
    case firmware(FirmwareTableError)
    case setup(FlatX86SetupError)
    case bus(BusError)
    case thread(name: String, errno: Int32)

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, expected): "\(field): expected \(expected)"
        case let .kvm(e): "\(e)"
        case let .memory(e): "guest memory: \(e)"
        case let .image(e): "guest image: \(e)"
        case let .linux(e): "Linux kernel: \(e)"
        case let .firmware(e): "firmware tables: \(e)"
        case let .setup(e): "vCPU entry setup: \(e)"
        case let .bus(e): "device bus: \(e)"
        case let .thread(name, errno): "cannot start thread \(name): errno \(errno)"
        }
    }
}
