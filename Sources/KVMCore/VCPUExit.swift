// Why KVM_RUN returned, as a value. Parsed from the shared kvm_run page; every kernel-supplied size
// and offset is checked, and an exit reason KVMCore does not know becomes `.unknown`, never a trap.
import CKVM
import GuestMemory

/// KVM_EXIT_SYSTEM_EVENT types.
public enum SystemEvent: Sendable, Equatable {
    case shutdown, reset, crash, wakeup, suspend
    case other(UInt32)

    init(raw: UInt32) {
        switch raw {
        case UInt32(KVM_SYSTEM_EVENT_SHUTDOWN): self = .shutdown
        case UInt32(KVM_SYSTEM_EVENT_RESET): self = .reset
        case UInt32(KVM_SYSTEM_EVENT_CRASH): self = .crash
        case UInt32(KVM_SYSTEM_EVENT_WAKEUP): self = .wakeup
        case UInt32(KVM_SYSTEM_EVENT_SUSPEND): self = .suspend
        default: self = .other(raw)
        }
    }
}

/// A typed vCPU exit. Port and MMIO exits carry scalar payloads so that the hot path allocates
/// nothing; string I/O (`count` > 1) is read with `VCPU.ioOutBytes()`.
public enum VCPUExit: Sendable, Equatable {
    /// The guest wrote `size` bytes (1, 2 or 4) `count` times to `port`; `value` is the first element.
    case ioOut(port: UInt16, size: UInt8, count: UInt32, value: UInt32)
    /// The guest reads `size` bytes `count` times from `port`: answer with `VCPU.completeIOIn` before
    /// the next run (unanswered reads return what the page held: KVMCore zeroes it first).
    case ioIn(port: UInt16, size: UInt8, count: UInt32)
    /// The guest wrote `length` (1...8) bytes to `address`; `value` is little-endian.
    case mmioWrite(address: GuestAddress, length: UInt8, value: UInt64)
    /// The guest reads `length` (1...8) bytes: answer with `VCPU.completeMMIORead` (default all ones).
    case mmioRead(address: GuestAddress, length: UInt8)
    case hlt
    /// Triple fault (or an explicit shutdown): the vCPU cannot continue.
    case shutdown
    case systemEvent(SystemEvent, data: [UInt64])
    /// KVM could not go on. For emulation failures (`suberror` 1) `instructionBytes` holds the bytes
    /// KVM tried to emulate, when the kernel supplies them.
    case internalError(suberror: UInt32, data: [UInt64], instructionBytes: [UInt8])
    /// VM entry failed (hardware reason, as VMX/SVM reports it).
    case failEntry(hardwareReason: UInt64, cpu: UInt32)
    /// KVM_RUN returned EINTR: a signal or `immediate_exit` asked the vCPU to come out.
    case interrupted
    case irqWindowOpen
    case debug(exception: UInt32, pc: UInt64)
    case exception(number: UInt32, errorCode: UInt32)
    /// An exit reason KVMCore does not model; `hardwareReason` is meaningful for KVM_EXIT_UNKNOWN.
    case unknown(reason: UInt32, hardwareReason: UInt64)

    /// A short name for logs and diagnoses.
    public var name: String {
        switch self {
        case .ioOut: "io-out"
        case .ioIn: "io-in"
        case .mmioWrite: "mmio-write"
        case .mmioRead: "mmio-read"
        case .hlt: "hlt"
        case .shutdown: "shutdown (triple fault)"
        case .systemEvent: "system-event"
        case let .internalError(sub, _, _): sub == UInt32(KVM_INTERNAL_ERROR_EMULATION) ? "internal error (emulation failure)" : "internal error (suberror \(sub))"
        case .failEntry: "fail-entry"
        case .interrupted: "interrupted"
        case .irqWindowOpen: "irq-window-open"
        case .debug: "debug"
        case .exception: "exception"
        case let .unknown(reason, _): "unknown exit reason \(reason)"
        }
    }
}

/// Reads the exit out of the run page. `mapSize` bounds every offset the kernel hands us.
func parseExit(_ run: UnsafeMutablePointer<kvm_run>, mapSize: Int) throws(KVMError) -> VCPUExit {
    // Sound: `run` points at the live kvm_run mapping of `mapSize` bytes owned by the calling VCPU,
    // and KVM_RUN has returned, so the kernel is not writing it now.
    let reason = unsafe run.pointee.exit_reason
    switch Int32(bitPattern: reason) {
    case KVM_EXIT_IO:
        let io = unsafe run.pointee.io
        guard io.size == 1 || io.size == 2 || io.size == 4 else {
            throw KVMError.unexpectedKernelValue(.run, "I/O size \(io.size)")
        }
        let (total, o1) = Int(io.size).multipliedReportingOverflow(by: Int(io.count))
        let (end, o2) = Int(io.data_offset).addingReportingOverflow(total)
        guard io.count >= 1, !o1, !o2, end <= mapSize else {
            throw KVMError.unexpectedKernelValue(.run, "I/O data at \(io.data_offset) + \(total) outside the run page")
        }
        if io.direction == UInt8(KVM_EXIT_IO_OUT) {
            var value: UInt32 = 0
            // Sound: data_offset + size*count ≤ mapSize was checked above and size ≤ 4.
            let base = unsafe UnsafeRawPointer(run) + Int(io.data_offset)
            for i in 0..<Int(io.size) { value |= UInt32(unsafe base.load(fromByteOffset: i, as: UInt8.self)) << (8 * i) }
            return .ioOut(port: io.port, size: io.size, count: io.count, value: value)
        }
        return .ioIn(port: io.port, size: io.size, count: io.count)
    case KVM_EXIT_MMIO:
        let mmio = unsafe run.pointee.mmio
        guard (1...8).contains(mmio.len) else { throw KVMError.unexpectedKernelValue(.run, "MMIO length \(mmio.len)") }
        let address = GuestAddress(mmio.phys_addr)
        if mmio.is_write != 0 {
            var value: UInt64 = 0
            withUnsafeBytes(of: mmio.data) { bytes in
                for i in 0..<Int(mmio.len) { value |= UInt64(bytes[i]) << (8 * i) }
            }
            return .mmioWrite(address: address, length: UInt8(mmio.len), value: value)
        }
        return .mmioRead(address: address, length: UInt8(mmio.len))
    case KVM_EXIT_HLT:
        return .hlt
    case KVM_EXIT_SHUTDOWN:
        return .shutdown
    case KVM_EXIT_SYSTEM_EVENT:
        let event = unsafe run.pointee.system_event
        let n = min(Int(event.ndata), 16)
        let data = withUnsafeBytes(of: event.data) { Array($0.bindMemory(to: UInt64.self).prefix(n)) }
        return .systemEvent(SystemEvent(raw: event.type), data: data)
    case KVM_EXIT_INTERNAL_ERROR:
        let internalError = unsafe run.pointee.internal
        let n = min(Int(internalError.ndata), 16)
        let data = withUnsafeBytes(of: internalError.data) { Array($0.bindMemory(to: UInt64.self).prefix(n)) }
        var bytes: [UInt8] = []
        // emulation_failure overlays `internal`: data[0] = flags, then insn_size and insn_bytes[15].
        if internalError.suberror == UInt32(KVM_INTERNAL_ERROR_EMULATION), n >= 3,
           data[0] & UInt64(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0 {
            withUnsafeBytes(of: internalError.data) { raw in
                let size = min(Int(raw[8]), 15)
                bytes = Array(raw[9..<(9 + size)])
            }
        }
        return .internalError(suberror: internalError.suberror, data: data, instructionBytes: bytes)
    case KVM_EXIT_FAIL_ENTRY:
        let f = unsafe run.pointee.fail_entry
        return .failEntry(hardwareReason: f.hardware_entry_failure_reason, cpu: f.cpu)
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return .irqWindowOpen
    case KVM_EXIT_INTR:
        return .interrupted
    case KVM_EXIT_DEBUG:
        let d = unsafe run.pointee.debug.arch
        return .debug(exception: d.exception, pc: d.pc)
    case KVM_EXIT_EXCEPTION:
        let e = unsafe run.pointee.ex
        return .exception(number: e.exception, errorCode: e.error_code)
    default:
        return .unknown(reason: reason, hardwareReason: unsafe run.pointee.hw.hardware_exit_reason)
    }
}
