// Helpers for machine tests: run a guest in-process and collect what it printed and how it ended.
import BootLoader
import Foundation
import GuestMemory
import Machine
import Synchronization
import Testing
import TestSupport

/// Collects serial output from vCPU threads.
final class SerialCapture: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    var sink: SerialSink { { [self] b in bytes.withLock { $0.append(b) } } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

/// A port device that records every write (offset from its base, size, value).
final class RecordingDevice: BusDevice {
    struct Write: Equatable { let offset: UInt64; let size: Int; let value: UInt64 }
    private let log = Mutex<[Write]>([])
    var writes: [Write] { log.withLock { $0 } }
    func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(offset: UInt64, size: Int, value: UInt64) { log.withLock { $0.append(Write(offset: offset, size: size, value: value)) } }
}

struct GuestRun {
    let exit: MachineExit
    let serial: String
}

func runGuest(_ image: BootImage, cpus: Int = 1, memoryMiB: UInt64 = 16,
              ports: [AddressBus.Entry] = []) throws -> GuestRun {
    let capture = SerialCapture()
    let config = MachineConfiguration(memorySize: memoryMiB << 20, vcpuCount: cpus, image: image, serialSink: capture.sink)
    let vm = try MicroVM(configuration: config, extraPortDevices: ports, mmioDevices: [])
    let exit = try vm.run()
    return GuestRun(exit: exit, serial: capture.text)
}

func elfImage(_ program: GuestProgram) throws -> BootImage { .elf(bytes: try GuestPrograms.elfBytes(program)) }

let kvmReason: Comment = Comment(rawValue: KVMAvailability.reason)
