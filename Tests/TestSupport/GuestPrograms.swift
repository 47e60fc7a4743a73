// Builds the freestanding test guests (guests/build.sh) once per test process and hands out their
// paths and bytes. Tests only: this uses Foundation's Process, which the libraries never do.
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The programs in guests/. See each .S file's header for what it does and what the host checks.
public enum GuestProgram: String, CaseIterable, Sendable {
    case helloReal = "hello_real"
    case helloProt32 = "hello_prot32"
    case helloLong64 = "hello_long64"
    case cpl3IOPL3 = "cpl3_iopl3"
    case pioMMIO = "pio_mmio"
    case dirtyPages = "dirty_pages"
    case pioLoopCPL3 = "pio_loop_cpl3"
    case smpID = "smp_id"
    case tripleFault = "triple_fault"
    case serialHello = "serial_hello"
    case serialEcho = "serial_echo"
    /// A PVH kernel that halts forever with interrupts off (ELF only): a guest that costs nothing.
    case pvhIdle = "pvh_idle"
    /// A CPL3 virtio-mmio driver that breaks every rule (guests/hostile_virtio.c): ELF only.
    case hostileVirtio = "hostile_virtio"
    // Boot-protocol probes (guests/probe/): booted as Linux kernels, they check their entry state
    // and boot structures and report 0x10 or a failed check's code through the debug-exit port.
    case probePVH = "probe_pvh"
    case probeBootParams = "probe_boot_params"
    case probeMultiboot = "probe_multiboot"
    /// Flat binary only: the multiboot probe loaded through its header's address fields.
    case probeMultibootAOut = "probe_multiboot_aout"
    /// Flat binary only: a hand-made bzImage.
    case probeBzImage = "probe_bzimage"

    /// hello_real and the flat probes are only built as flat binaries (hello_real is linked at
    /// offset 0 of its segment).
    public var hasELF: Bool { ![.helloReal, .probeMultibootAOut, .probeBzImage].contains(self) }
    /// The PVH, boot_params and multiboot probes are only built as ELF files.
    public var hasFlatBinary: Bool { ![.probePVH, .probeBootParams, .probeMultiboot, .hostileVirtio, .pvhIdle].contains(self) }
    public var elfFileName: String { rawValue + ".elf" }
    public var flatFileName: String { rawValue + ".bin" }
}

public struct GuestBuildError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public enum GuestPrograms {
    /// The package root, found from this file's path (Tests/TestSupport/GuestPrograms.swift).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    // nil until the first caller builds; every later caller gets the same result, success or failure.
    private static let buildResult = Mutex<Result<URL, GuestBuildError>?>(nil)

    /// The folder holding the built guests; runs guests/build.sh the first time it is asked (the
    /// lock makes concurrent tests wait for that one build rather than racing).
    public static func directory() throws(GuestBuildError) -> URL {
        let result = buildResult.withLock { cached -> Result<URL, GuestBuildError> in
            if let cached { return cached }
            let fresh = Result<URL, GuestBuildError> { () throws(GuestBuildError) -> URL in try build() }
            cached = fresh
            return fresh
        }
        return try result.get()
    }

    public static func elfPath(_ program: GuestProgram) throws(GuestBuildError) -> String {
        guard program.hasELF else { throw GuestBuildError(description: "\(program.rawValue) has no ELF") }
        return try directory().appendingPathComponent(program.elfFileName).path
    }

    public static func flatPath(_ program: GuestProgram) throws(GuestBuildError) -> String {
        guard program.hasFlatBinary else { throw GuestBuildError(description: "\(program.rawValue) has no flat binary") }
        return try directory().appendingPathComponent(program.flatFileName).path
    }

    public static func elfBytes(_ program: GuestProgram) throws(GuestBuildError) -> [UInt8] {
        try readBytes(elfPath(program))
    }

    public static func flatBytes(_ program: GuestProgram) throws(GuestBuildError) -> [UInt8] {
        try readBytes(flatPath(program))
    }

    private static func readBytes(_ path: String) throws(GuestBuildError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GuestBuildError(description: "cannot read \(path)")
        }
        return [UInt8](data)
    }

    /// A cache folder per user and per checkout, so that worktrees with different guest sources do
    /// not share binaries. build.sh moves each finished file into place, so a concurrent test
    /// process building the same sources never exposes a half-written file.
    private static func cacheDirectory() -> URL {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a: stable across processes, unlike hashValue
        for byte in packageRoot.path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let name = "swift-vmm-guests-\(getuid())-\(String(hash, radix: 16))"
        return URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(name)
    }

    private static func build() throws(GuestBuildError) -> URL {
        let script = packageRoot.appendingPathComponent("guests/build.sh")
        let out = cacheDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, out.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw GuestBuildError(description: "cannot start \(script.path): \(error)")
        }
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()   // before wait: no pipe deadlock
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: stderr, as: UTF8.self)
            throw GuestBuildError(description: "guests/build.sh failed (\(process.terminationStatus)): \(text)")
        }
        return out
    }
}

/// Whether this process can use /dev/kvm, for `@Test(.enabled(if: KVMAvailability.available))`.
public enum KVMAvailability {
    private static let probe: (available: Bool, reason: String) = {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            let message = String(cString: strerror(code))
            return (false, "/dev/kvm cannot be opened read-write: \(message) (errno \(code))")
        }
        close(fd)
        return (true, "/dev/kvm is available")
    }()

    public static var available: Bool { probe.available }

    /// Why KVM tests run or are skipped; print it when skipping so the log says why.
    public static var reason: String { probe.reason }
}
