// One VM with one vCPU running guests/pio_loop_cpl3 (a CPL3 loop of `out dx, eax` to port 0x530 with
// an incrementing counter), and two ways of driving the same vCPU through N port-I/O exits:
//   - Swift: `VCPU.run()` and a switch on the `VCPUExit` (the public KVMCore API, as a VMM uses it);
//   - C:     `cpio_run_exits` (CPIOLoop): ioctl(KVM_RUN) and the same checks on its own mapping of the
//            same kvm_run page.
// Both paths drive the very same vCPU, guest and counter, so they differ only in the host-side code
// between two KVM_RUNs. Timing is done identically for both (CLOCK_MONOTONIC around a whole batch).
import BootLoader
import CPIOLoop
import Glibc
import GuestMemory
import KVMCore
import Machine

public struct PIOExitError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Owns the VM; drive it from one thread at a time (the benchmark's own thread).
public final class PIOExitBench: @unchecked Sendable {
    // @unchecked: used by one thread at a time (the benchmark driver); never concurrently.
    public static let port: UInt16 = 0x530

    let kvm: KVM
    let vm: VirtualMachine
    let memory: GuestMemoryMap
    public let vcpu: VCPU
    let cRunPage: UnsafeMutableRawPointer
    let mapSize: Int
    /// The value the guest's next OUT must carry (the n-th exit carries n mod 2^32).
    public private(set) var expected: UInt32 = 0
    /// Exits handled so far by either path.
    public private(set) var exitsHandled: UInt64 = 0

    /// The guest built by `guests/build.sh` into the folder run.sh uses (.build-bench/guests).
    public static var defaultGuestPath: String {
        // #filePath = <repo>/Benchmarks/Sources/PIOExitKit/PIOExitBench.swift
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/") + "/.build-bench/guests/pio_loop_cpl3.elf"
    }

    public init(guestPath: String = PIOExitBench.defaultGuestPath) throws {
        guard let image = Self.readFile(guestPath) else {
            throw PIOExitError("cannot read \(guestPath): build the guests first (Benchmarks/run.sh, or guests/build.sh DIR)")
        }
        kvm = try KVM()
        vm = try kvm.createVM()
        try vm.setTSSAddress(GuestAddress(0xFFFB_D000))   // as MicroVM: above RAM, needed on Intel
        // 2 MiB of RAM from 0: the FlatX86Setup tables, stack and the image at 1 MiB.
        let ram = try GuestRegion.anonymous(at: GuestAddress(0), size: 0x20_0000)
        memory = try GuestMemoryMap(regions: [ram])
        try vm.mapMemory(slot: 0, region: ram)
        let loaded = try ELFLoader.load(image, into: memory)
        guard loaded.elfClass == .elf64 else { throw PIOExitError("\(guestPath) is not ELF64") }
        let entry = try FlatX86Setup.prepare(memory, mode: .long64, entry: loaded.entry)

        vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(kvm.supportedCPUID())
        try X86VCPUSetup.apply(entry, to: vcpu, index: 0)

        mapSize = kvm.vcpuMmapSize
        guard let page = cpio_map_run(vcpu.rawFileDescriptor, mapSize) else {
            throw PIOExitError("mmap of the kvm_run page failed: errno \(errno)")
        }
        cRunPage = page
    }

    deinit { cpio_unmap_run(cRunPage, mapSize) }

    /// The Swift path: `exits` round trips through `VCPU.run()`.
    @inline(never)
    public func runSwift(exits: Int) throws {
        var want = expected
        defer { exitsHandled += UInt64(want &- expected); expected = want }
        for _ in 0..<exits {
            let exit = try vcpu.run()
            switch exit {
            case let .ioOut(port, size, count, value) where port == Self.port && size == 4 && count == 1:
                guard value == want else { throw PIOExitError("swift: OUT carried \(value), expected \(want)") }
                want &+= 1
            default:
                throw PIOExitError("swift: unexpected exit \(exit) after \(want) OUTs")
            }
        }
    }

    /// The C path: the same `exits` round trips in `cpio_run_exits`.
    @inline(never)
    public func runC(exits: Int) throws {
        var want = expected
        let r = cpio_run_exits(vcpu.rawFileDescriptor, cRunPage, mapSize, UInt64(exits), &want)
        exitsHandled += UInt64(want &- expected)
        expected = want
        if r != 0 { throw PIOExitError("c: cpio_run_exits failed with \(r) after \(want) OUTs") }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n > 0 { bytes += buffer[0..<n] }
            if n < buffer.count { break }
        }
        return bytes
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
