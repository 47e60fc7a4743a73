import SystemPackage

/// The one error type of the guest-memory layer. System failures keep the operation name and the
/// errno so that a caller (or a log line) can tell `mmap` ENOMEM from `ftruncate` EPERM.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Zero length, or start + length wraps past 2^64.
    case invalidRange(start: GuestAddress, length: UInt64)
    /// Not (fully) backed by RAM: a gap, past the last region, or before the first.
    case outOfBounds(address: GuestAddress, length: UInt64)
    case overlappingRegions(GuestRange, GuestRange)
    case misaligned(address: GuestAddress, alignment: UInt64)
    case sizeNotPageMultiple(UInt64)
    /// mmap, memfd_create, ftruncate, fcntl seals, fstat: the call that failed and its errno.
    case system(operation: String, errno: Errno)

    public var description: String {
        switch self {
        case .invalidRange(let start, let length):
            return "invalid guest range: start \(start), length \(length)"
        case .outOfBounds(let address, let length):
            return "guest access out of bounds: \(length) bytes at \(address)"
        case .overlappingRegions(let a, let b):
            return "guest memory regions overlap: \(a) and \(b)"
        case .misaligned(let address, let alignment):
            return "guest address \(address) is not aligned to \(alignment)"
        case .sizeNotPageMultiple(let size):
            return "size \(size) is not a multiple of the page size"
        case .system(let operation, let errno):
            return "\(operation) failed: \(errno)"
        }
    }
}
