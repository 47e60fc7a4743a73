// What a cloudInitNoCloud / cloudInitConfigDrive volume says, and how its user and network data are
// resolved, following KubeVirt's pkg/cloud-init: a referenced secret wins over inline text, inline
// text over base64; the secret's files are where virt-launcher mounts them,
// /var/run/kubevirt-private/secret/<volume name>/, under either key spelling KubeVirt accepts
// (`userdata` or `userData`, `networkdata` or `networkData`). Bytes stay bytes: user data may be
// gzip-compressed, which cloud-init accepts.
import Glibc

/// The two cloud-init data sources KubeVirt offers, with the volume labels cloud-init looks for.
public enum CloudInitDataSource: String, Sendable, Equatable {
    case noCloud
    case configDrive

    public var volumeLabel: String {
        switch self {
        case .noCloud: "cidata"
        case .configDrive: "config-2"
        }
    }
}

/// A cloud-init volume from the VMI, as plain values. `fieldPath` (for example
/// `spec.volumes[2].cloudInitNoCloud`) prefixes the field names in errors.
public struct CloudInitVolumeSource: Sendable, Equatable {
    /// Where KubeVirt's virt-controller mounts the secrets of cloud-init volumes in the pod.
    public static let defaultSecretDirectory = "/var/run/kubevirt-private/secret"

    public var dataSource: CloudInitDataSource
    public var volumeName: String
    public var fieldPath: String
    public var userData: String?
    public var userDataBase64: String?
    /// The secret's name; only whether it is set matters, since the secret is mounted under the volume name.
    public var userDataSecretRef: String?
    public var networkData: String?
    public var networkDataBase64: String?
    public var networkDataSecretRef: String?

    public init(dataSource: CloudInitDataSource, volumeName: String, fieldPath: String,
                userData: String? = nil, userDataBase64: String? = nil, userDataSecretRef: String? = nil,
                networkData: String? = nil, networkDataBase64: String? = nil, networkDataSecretRef: String? = nil) {
        self.dataSource = dataSource
        self.volumeName = volumeName
        self.fieldPath = fieldPath
        self.userData = userData
        self.userDataBase64 = userDataBase64
        self.userDataSecretRef = userDataSecretRef
        self.networkData = networkData
        self.networkDataBase64 = networkDataBase64
        self.networkDataSecretRef = networkDataSecretRef
    }
}

/// The resolved payload. Empty `networkData` means none: no network-config file is written.
public struct CloudInitContent: Sendable, Equatable {
    public var userData: [UInt8]
    public var networkData: [UInt8]

    public init(userData: [UInt8], networkData: [UInt8] = []) {
        self.userData = userData
        self.networkData = networkData
    }
}

/// File operations of the cloud-init code, named after their system calls.
public enum CloudInitOperation: String, Sendable {
    case open, read, write, fsync, rename, unlink, stat = "fstat"
}

public enum CloudInitError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A base64 field does not decode; `offset` is the first bad character (nil: input cut short).
    case invalidBase64(field: String, offset: Int?)
    /// A secret is referenced but none of its accepted key files exists.
    case secretNotFound(field: String, triedPaths: [String])
    /// Neither user data nor network data: KubeVirt requires one of them.
    case noData(field: String)
    /// The volume name cannot be a directory name under the secret directory.
    case invalidVolumeName(field: String, name: String)
    /// A file is larger than the launcher accepts for cloud-init data.
    case tooLarge(path: String, limit: Int)
    case image(ISO9660Error)
    case io(CloudInitOperation, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidBase64(let field, let offset):
            offset.map { "\(field): invalid base64 at offset \($0)" } ?? "\(field): base64 input is cut short (not whole 4-character groups)"
        case .secretNotFound(let field, let paths): "\(field): secret not mounted; tried \(paths.joined(separator: ", "))"
        case .noData(let field): "\(field): userData, userDataBase64, networkData or networkDataBase64 is required (or a secret reference)"
        case .invalidVolumeName(let field, let name): "\(field): volume name '\(name)' cannot name a secret directory"
        case .tooLarge(let path, let limit): "\(path): larger than \(limit) bytes"
        case .image(let error): "cloud-init image: \(error)"
        case .io(let operation, let path, let errno): "\(operation.rawValue) \(path) failed with errno \(errno)"
        }
    }
}

extension CloudInitVolumeSource {
    /// Largest user or network data accepted from a secret file (Kubernetes caps secrets at 1 MiB).
    public static let maxSecretBytes = 16 << 20

    /// Resolves user and network data: secret > inline > base64, as KubeVirt does. A referenced
    /// secret with no file under either key spelling is an error (KubeVirt tolerates one missing
    /// secret when another is found, which hides mistakes; the launcher names the field instead).
    public func resolve(secretDirectory: String = defaultSecretDirectory) throws(CloudInitError) -> CloudInitContent {
        let directory = try secretVolumeDirectory(secretDirectory)
        var user = try inlineOrBase64(userData, userDataBase64, field: "userData")
        var network = try inlineOrBase64(networkData, networkDataBase64, field: "networkData")
        if userDataSecretRef != nil {
            let secret = try readSecret(directory, keys: ["userdata", "userData"], field: "userDataSecretRef")
            if !secret.isEmpty { user = secret }
        }
        if networkDataSecretRef != nil {
            let secret = try readSecret(directory, keys: ["networkdata", "networkData"], field: "networkDataSecretRef")
            if !secret.isEmpty { network = secret }
        }
        guard !user.isEmpty || !network.isEmpty else { throw .noData(field: fieldPath) }
        return CloudInitContent(userData: user, networkData: network)
    }

    private func inlineOrBase64(_ inline: String?, _ base64: String?, field: String) throws(CloudInitError) -> [UInt8] {
        if let inline, !inline.isEmpty { return Array(inline.utf8) }
        guard let base64, !base64.isEmpty else { return [] }
        switch CloudInitBase64.decode(base64) {
        case .success(let bytes): return bytes
        case .failure(.invalidCharacter(let offset)): throw .invalidBase64(field: "\(fieldPath).\(field)Base64", offset: offset)
        case .failure(.truncated): throw .invalidBase64(field: "\(fieldPath).\(field)Base64", offset: nil)
        }
    }

    /// `<secretDirectory>/<volumeName>`. Volume names are DNS labels in Kubernetes; anything that
    /// could leave the directory is refused here rather than trusted.
    private func secretVolumeDirectory(_ secretDirectory: String) throws(CloudInitError) -> String {
        if userDataSecretRef == nil && networkDataSecretRef == nil { return "" }
        guard !volumeName.isEmpty, volumeName != ".", volumeName != "..", !volumeName.contains("/"),
              !volumeName.utf8.contains(0) else {
            throw .invalidVolumeName(field: "\(fieldPath)", name: volumeName)
        }
        return secretDirectory + "/" + volumeName
    }

    private func readSecret(_ directory: String, keys: [String], field: String) throws(CloudInitError) -> [UInt8] {
        var tried: [String] = []
        for key in keys {
            let path = directory + "/" + key
            tried.append(path)
            switch CloudInitFiles.read(path, limit: Self.maxSecretBytes) {
            case .success(let bytes): return bytes
            case .failure(.io(.open, _, ENOENT)): continue
            case .failure(let error): throw error
            }
        }
        throw .secretNotFound(field: "\(fieldPath).\(field)", triedPaths: tried)
    }
}

/// Whole-file reads and atomic writes with Glibc, so PodIntegration's cloud-init code needs no Foundation.
enum CloudInitFiles {
    /// Reads a whole file. Symbolic links are followed on purpose: Kubernetes mounts each secret key
    /// as a link into a `..data` directory it swaps atomically.
    static func read(_ path: String, limit: Int) -> Result<[UInt8], CloudInitError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.io(.open, path: path, errno: errno)) }
        defer { close(fd) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            // Sound: the buffer is valid for chunk.count bytes during the call.
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.io(.read, path: path, errno: errno))
            }
            if count == 0 { return .success(output) }
            output += chunk[0..<count]
            guard output.count <= limit else { return .failure(.tooLarge(path: path, limit: limit)) }
        }
    }

    /// Writes `bytes` to `path` through `path.staging`: fsync, then rename, so a reader (or a crash)
    /// never sees half an image. Mode 0600: user data may hold passwords.
    static func writeAtomically(_ bytes: [UInt8], to path: String) -> Result<Void, CloudInitError> {
        let staging = path + ".staging"
        let fd = open(staging, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(.io(.open, path: staging, errno: errno)) }
        var done = 0
        while done < bytes.count {
            // Sound: done < bytes.count, so the pointer and length stay inside the array.
            let count = bytes.withUnsafeBytes { all in Glibc.write(fd, all.baseAddress! + done, all.count - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let error = count == 0 ? ENOSPC : errno
                close(fd)
                unlink(staging)
                return .failure(.io(.write, path: staging, errno: error))
            }
            done += count
        }
        guard fsync(fd) == 0 else {
            let error = errno
            close(fd)
            unlink(staging)
            return .failure(.io(.fsync, path: staging, errno: error))
        }
        close(fd)
        guard rename(staging, path) == 0 else {
            let error = errno
            unlink(staging)
            return .failure(.io(.rename, path: path, errno: error))
        }
        return .success(())
    }
}
