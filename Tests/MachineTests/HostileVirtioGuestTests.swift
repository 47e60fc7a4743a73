// A guest driver that breaks every virtio rule (guests/hostile_virtio.c) against the machine's real
// virtio-mmio devices: real ioeventfd kicks serviced on the event loop, real guest memory. The VMM
// must stay up, the broken device must report DEVICE_NEEDS_RESET and recover after a reset, and the
// other device must keep serving throughout.
import Foundation
import GuestMemory
import Machine
import Testing
import TestSupport

@Suite(.enabled(if: KVMAvailability.available, kvmReason))
struct HostileVirtioGuestTests {
    @Test(.timeLimit(.minutes(2)))
    func malformedRingsAndRegisterAbuseLeaveTheVMMAndTheOtherDeviceWorking() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-virtio-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = dir.appendingPathComponent("disk.img")
        var image = Data("HOSTILE-DISK-MARKER".utf8)
        image.append(Data(count: (1 << 20) - image.count))
        try image.write(to: disk)

        let capture = SerialCapture()
        var config = MachineConfiguration(memorySize: 64 << 20, vcpuCount: 1,
                                          image: .elf(bytes: try GuestPrograms.elfBytes(.hostileVirtio)),
                                          serialSink: capture.sink)
        config.disks = [DiskConfiguration(path: disk.path)]
        config.rng = true
        let vm = try MicroVM(configuration: config)
        let exit = try vm.run()
        let lines = capture.text.split(separator: "\n").map(String.init)
        #expect(exit == .debugExit(0x10), "guest report:\n\(capture.text)")
        #expect(lines.last == "done")
        let expected = ["good-read", "head-out-of-range", "next-out-of-range", "chain-loop", "avail-index-ahead",
                        "size-not-power-of-two", "size-too-large", "ring-outside-ram", "ring-wraps-address-space",
                        "ring-misaligned", "nested-indirect", "indirect-bad-length", "indirect-with-next",
                        "indirect-not-negotiated", "buffer-outside-ram", "total-length-overflow",
                        "readable-after-writable", "notify-unknown-queue", "register-abuse"]
        #expect(lines.dropLast() == expected.map { "ok \($0)" }[...], "every scenario ran and passed:\n\(capture.text)")
        // Nothing the guest did reached the image: the good reads only read.
        #expect(try Data(contentsOf: disk) == image)
    }
}
