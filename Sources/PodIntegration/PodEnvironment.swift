// What the resolver may ask the pod it runs in: whether a volume is attached as a block device and
// whether a mounted Secret file exists. Injected, so tests and dry runs outside a pod are exact.
import Glibc

public struct PodEnvironment: Sendable {
    /// True when `path` exists and is a block device.
    public var isBlockDevice: @Sendable (String) -> Bool
    /// True when `path` exists (any kind of file).
    public var fileExists: @Sendable (String) -> Bool

    public init(isBlockDevice: @escaping @Sendable (String) -> Bool, fileExists: @escaping @Sendable (String) -> Bool) {
        self.isBlockDevice = isBlockDevice
        self.fileExists = fileExists
    }

    /// The real file system (stat(2)).
    public static let live = PodEnvironment(
        isBlockDevice: { path in
            var st = stat()
            return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK
        },
        fileExists: { path in
            var st = stat()
            return stat(path, &st) == 0
        }
    )

    /// Nothing exists: every PVC is in filesystem mode and no Secret is mounted.
    public static let empty = PodEnvironment(isBlockDevice: { _ in false }, fileExists: { _ in false })
}

public struct ResolveOptions: Sendable {
    /// Volumes to treat as block-mode PVCs (`/dev/<volume>`) whatever the file system says; the
    /// VMI does not carry the PVC's volumeMode, so outside the pod this is the only way to say it.
    public var blockVolumes: Set<String> = []
    /// When true, a cloud-init Secret that is not mounted is an error (at launch); when false (dry
    /// run outside the pod) it is a note and the path is still printed.
    public var requireSecrets = false
    public init(blockVolumes: Set<String> = [], requireSecrets: Bool = false) {
        self.blockVolumes = blockVolumes
        self.requireSecrets = requireSecrets
    }
}
