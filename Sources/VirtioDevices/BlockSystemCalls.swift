// The system calls the block backend makes, as a value of closures. Production uses `.system`;
// tests substitute scripted versions to produce short transfers, EINTR and EIO, which a real file
// on a healthy disk never returns (device-mapper's "error" target is not available everywhere).
import CKVM
import Glibc

/// What one system call did: how many bytes (or 0 for calls without a count), or the errno.
/// A value rather than Glibc's -1-and-errno so scripted calls need not touch thread-local errno.
enum BlockSyscallResult: Equatable, Sendable {
    case done(Int)
    case failed(errno: Int32)
}

// fallocate(2) mode bits from <linux/falloc.h>. Swift's Glibc module does not import the macros (they
// sit behind _GNU_SOURCE, as fallocate does: CKVM's ckvm_sys_fallocate calls it), so they are spelled
// out here.
let fallocKeepSize: Int32 = 0x01
let fallocPunchHole: Int32 = 0x02
let fallocZeroRange: Int32 = 0x10

/// BLKGETSIZE64 = _IOR(0x12, 114, size_t): a function-like macro Swift cannot import.
/// Direction read (2) << 30 | sizeof(size_t) (8) << 16 | type 0x12 << 8 | number 114.
let blkGetSize64: UInt = 0x8008_1272

struct BlockSystemCalls: Sendable {
    var pread: @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> BlockSyscallResult
    var pwrite: @Sendable (_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> BlockSyscallResult
    var fdatasync: @Sendable (_ fd: Int32) -> BlockSyscallResult
    var fallocate: @Sendable (_ fd: Int32, _ mode: Int32, _ offset: Int64, _ length: Int64) -> BlockSyscallResult

    static let system = BlockSystemCalls(
        pread: { fd, buffer, offset in
            // Sound: the buffer is valid for buffer.count bytes for the duration of the call.
            let count = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))  // off_t is 64-bit on supported hosts
            return count < 0 ? .failed(errno: errno) : .done(count)
        },
        pwrite: { fd, buffer, offset in
            // Sound: the buffer is valid for buffer.count bytes for the duration of the call.
            let count = Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset))  // off_t is 64-bit on supported hosts
            return count < 0 ? .failed(errno: errno) : .done(count)
        },
        fdatasync: { fd in
            Glibc.fdatasync(fd) < 0 ? .failed(errno: errno) : .done(0)
        },
        fallocate: { fd, mode, offset, length in
            let result = ckvm_sys_fallocate(fd, mode, offset, length)
            return result < 0 ? .failed(errno: -result) : .done(0)
        })
}
