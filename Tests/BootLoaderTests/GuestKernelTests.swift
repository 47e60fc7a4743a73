// The project's real guest kernel (../shared/guest-kernel/vmlinux, see its README): detected as PVH
// with the entry binutils reports, and loaded into 256 MiB. A missing kernel is a recorded issue
// (a failure that says why), not a silent skip: the boot path depends on this file.
import BootLoader
import Foundation
import GuestMemory
import TestSupport
import Testing

private let kernelPath = GuestPrograms.packageRoot.deletingLastPathComponent()
    .appendingPathComponent("shared/guest-kernel/vmlinux").path

private func kernelBytes() -> [UInt8]? {
    guard let data = FileManager.default.contents(atPath: kernelPath) else {
        Issue.record("guest kernel not found at \(kernelPath): see shared/guest-kernel/README.md to build it")
        return nil
    }
    return [UInt8](data)
}

/// The PVH entry as `readelf -n` prints it: the descriptor bytes of the Xen note of type 0x12.
private func readelfPVHEntry() throws -> UInt64? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["readelf", "-n", kernelPath]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    guard let noteLine = lines.firstIndex(where: { $0.hasPrefix("Xen") && $0.contains("0x00000012") }),
          noteLine + 1 < lines.count, lines[noteLine + 1].hasPrefix("description data:") else { return nil }
    let hex = lines[noteLine + 1].dropFirst("description data:".count).split(separator: " ")
    let bytes = hex.compactMap { UInt8($0, radix: 16) }
    guard bytes.count == hex.count, bytes.count == 4 || bytes.count == 8 else { return nil }
    return bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
}

@Suite struct GuestKernelTests {
    @Test func guestKernelIsPVHWithReadelfEntry() throws {
        guard let kernel = kernelBytes() else { return }
        let expected = try readelfPVHEntry()
        #expect(expected != nil, "readelf -n shows no Xen PHYS32_ENTRY note")
        let entry = try PVHLoader.entryPoint(elf: kernel)
        #expect(entry?.raw == expected)
    }

    @Test func guestKernelLoadsInto256MiB() throws {
        guard let kernel = kernelBytes() else { return }
        let memory = try GuestMemoryMap.anonymous(size: mib(256))
        let initrd = [UInt8](repeating: 0xEE, count: 0x3_0001)
        let result = try LinuxLoader.load(kernel: kernel, initrd: initrd,
                                          cmdline: "console=ttyS0 noxsave clearcpuid=popcnt,smap mitigations=off",
                                          memory: memory)
        #expect(result.bootProtocol == .pvh)
        #expect(result.entryState.mode == .protected32)
        #expect(result.entryState.rip == (try readelfPVHEntry()))
        #expect(result.entryState.rbx == LinuxLayout.pvhStartInfoAddress.raw)
        let image = try ELFLoader.parse(kernel)
        #expect(result.kernel == image.segments.map(\.physicalRange))
        // The first text bytes are in place at p_paddr.
        let text = image.segments[0]
        let offset = Int(text.fileOffset)
        #expect(try memory.read(count: 64, at: text.physicalRange.start) == Array(kernel[offset..<offset + 64]))
        // The initrd is at the top of RAM, clear of every segment.
        let initrdRange = try #require(result.initrd)
        #expect(initrdRange == GuestRange(start: GuestAddress(mib(256) - 0x3_1000), length: 0x3_0001))
        #expect(try memory.read(count: 16, at: initrdRange.start) == [UInt8](repeating: 0xEE, count: 16))
        #expect(!result.kernel.contains { $0.overlaps(initrdRange) })
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x8000)) == 0x336E_C578)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x8030)) == 2)   // memmap_entries
    }

    /// The same kernel through the 64-bit boot protocol (PVH note ignored): entry at e_entry.
    @Test func guestKernelLoadsThroughBootParams() throws {
        guard let kernel = kernelBytes() else { return }
        let memory = try GuestMemoryMap.anonymous(size: mib(256))
        let result = try LinuxLoader.load(kernel: kernel, initrd: nil, cmdline: "console=ttyS0", memory: memory,
                                          options: LinuxBootOptions(allowPVH: false))
        #expect(result.bootProtocol == .elf64)
        #expect(result.entryState.mode == .long64)
        #expect(result.entryState.rip == (try ELFLoader.parse(kernel)).physicalEntry.raw)
        #expect(result.entryState.rsi == LinuxLayout.bootParamsAddress.raw)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x7202)) == 0x5372_6448)
    }
}
