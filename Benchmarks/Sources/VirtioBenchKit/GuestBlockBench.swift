// Guest-driven virtio-blk throughput: the CPL3 driver guests/virtio_blk_bench.c keeps the device
// busy (4 KiB random reads, 32 in flight; 64 KiB sequential writes, 16 in flight) on a real MicroVM
// with real ioeventfd kicks and the event-loop thread serving them. A port device timestamps each
// phase; the event-loop thread's CPU time over the phase is the VMM's share (the vCPU thread spins
// in the guest while it polls, so its time says nothing).
import Glibc
import GuestMemory
import Machine
import Synchronization

public struct GuestBlockPhase: Sendable {
    public let name: String
    public let requests: Int
    public let bytesPerRequest: Int
    public let seconds: Double
    /// CPU seconds of the event-loop thread during the phase.
    public let eventLoopCPUSeconds: Double
    public var requestsPerSecond: Double { Double(requests) / seconds }
    public var mebibytesPerSecond: Double { Double(requests * bytesPerRequest) / seconds / 1_048_576 }
    public var vmmShare: Double { eventLoopCPUSeconds / seconds }
}

/// Records the time and the event-loop CPU time at each phase marker (port 0x530 start, 0x531 end).
final class PhaseClock: BusDevice {
    struct Mark { let phase: UInt8; let end: Bool; let wall: Double; let loopCPU: Double }
    let marks = Mutex<[Mark]>([])
    func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(offset: UInt64, size: Int, value: UInt64) {
        let mark = Mark(phase: UInt8(truncatingIfNeeded: value), end: offset == 1, wall: monotonicSeconds(),
                        loopCPU: threadCPUSeconds(named: "event-loop"))
        marks.withLock { $0.append(mark) }
    }
}

func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Run time of this process's thread called `name`, from /proc/self/task/*/schedstat (nanoseconds
/// on the CPU, first field); 0 when there is no such thread.
func threadCPUSeconds(named name: String) -> Double {
    guard let dir = opendir("/proc/self/task") else { return 0 }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard tid.first?.isNumber == true else { continue }
        guard readSmallFile("/proc/self/task/\(tid)/comm").trimmingSuffixNewline == name else { continue }
        let fields = readSmallFile("/proc/self/task/\(tid)/schedstat").split(separator: " ")
        return Double(fields.first.flatMap { UInt64($0) } ?? 0) / 1e9
    }
    return 0
}

func readSmallFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
}

extension String {
    var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}

public enum GuestBlockBench {
    /// Boots the guest once with a 64 MiB disk in /dev/shm and returns its two phases.
    public static func run(guestPath: String) throws -> [GuestBlockPhase] {
        let disk = "/dev/shm/swift-vmm-guest-bench-\(getpid()).img"
        let fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0, ftruncate(fd, 64 << 20) == 0 else { throw BenchError("cannot create \(disk)") }
        var chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
        for offset in stride(from: 0, to: 64 << 20, by: chunk.count) {
            guard chunk.withUnsafeMutableBytes({ pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }) == chunk.count else {
                throw BenchError("cannot fill \(disk)")
            }
        }
        close(fd)
        defer { unlink(disk) }
        let image = try HostFile.readAll(guestPath)
        var config = MachineConfiguration(memorySize: 128 << 20, vcpuCount: 1, image: .elf(bytes: image), serialSink: { _ in })
        config.disks = [DiskConfiguration(path: disk)]
        let clock = PhaseClock()
        let vm = try MicroVM(configuration: config,
                             extraPortDevices: [AddressBus.Entry(name: "phase-clock", base: 0x530, length: 2, device: clock)],
                             mmioDevices: [])
        let exit = try vm.run()
        guard exit == .debugExit(0x10) else { throw BenchError("guest ended with \(exit)") }
        let marks = clock.marks.withLock { $0 }
        let shapes = [(1, "4 KiB random read, 32 in flight", 20000, 4096), (2, "64 KiB sequential write, 16 in flight", 1024, 65536)]
        return try shapes.map { phase, name, requests, bytes in
            guard let start = marks.first(where: { $0.phase == phase && !$0.end }),
                  let end = marks.first(where: { $0.phase == phase && $0.end }) else { throw BenchError("phase \(phase) not marked") }
            return GuestBlockPhase(name: name, requests: requests, bytesPerRequest: bytes, seconds: end.wall - start.wall,
                                   eventLoopCPUSeconds: end.loopCPU - start.loopCPU)
        }
    }
}
