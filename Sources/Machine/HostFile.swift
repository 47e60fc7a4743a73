// Reading a whole host file (kernel, initrd, a VMI manifest) without Foundation: the binary stays
// small and the error says which call failed with which errno.
import Glibc

public struct HostFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let errno: Int32
    public var description: String {
        errno == EFBIG ? "\(path): larger than the limit" : "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

public enum HostFile {
    /// The whole file (`-` reads standard input), at most `limit` bytes (EFBIG past that).
    public static func readAll(_ path: String, limit: Int = Int.max) throws(HostFileError) -> [UInt8] {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HostFileError(path: path, operation: "open", errno: Glibc.errno) }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            // Sound: read(2) writes at most chunk.count bytes into the array's own storage.
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw HostFileError(path: path, operation: "read", errno: Glibc.errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            guard result.count <= limit else { throw HostFileError(path: path, operation: "read", errno: EFBIG) }
        }
    }
}
