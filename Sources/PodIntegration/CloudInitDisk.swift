// The cloud-init disk the launcher attaches: an ISO 9660 image with the files each data source
// expects, at the paths KubeVirt's GenerateLocalData uses.
// - NoCloud (label `cidata`): /user-data, /meta-data, and /network-config when there is network data.
// - ConfigDrive (label `config-2`): /openstack/latest/user_data, meta_data.json, and network_data.json
//   when there is network data.
// user-data is written even when empty (only network data given), as KubeVirt does.
import Glibc

public enum CloudInitDisk {
    /// The image for `content`, with the metadata of `identity`. `recordingTime` defaults to now;
    /// pass a fixed one for reproducible bytes.
    public static func image(_ dataSource: CloudInitDataSource, content: CloudInitContent, identity: CloudInitIdentity,
                             recordingTime: ISO9660Timestamp? = nil) throws(CloudInitError) -> ISO9660Image {
        do throws(ISO9660Error) {
            var image = try ISO9660Image(volumeIdentifier: dataSource.volumeLabel, recordingTime: recordingTime ?? .now())
            switch dataSource {
            case .noCloud:
                try image.addFile("user-data", contents: content.userData)
                try image.addFile("meta-data", contents: identity.noCloudMetaData)
                if !content.networkData.isEmpty { try image.addFile("network-config", contents: content.networkData) }
            case .configDrive:
                try image.addFile("openstack/latest/user_data", contents: content.userData)
                try image.addFile("openstack/latest/meta_data.json", contents: identity.configDriveMetaData)
                if !content.networkData.isEmpty {
                    try image.addFile("openstack/latest/network_data.json", contents: content.networkData)
                }
            }
            return image
        } catch {
            throw .image(error)
        }
    }

    /// Resolves `source` (secrets from `secretDirectory`), builds the image and writes it to `path`
    /// atomically (a `.staging` file renamed into place). Returns the resolved content.
    @discardableResult
    public static func write(_ source: CloudInitVolumeSource, identity: CloudInitIdentity, to path: String,
                             secretDirectory: String = CloudInitVolumeSource.defaultSecretDirectory,
                             recordingTime: ISO9660Timestamp? = nil) throws(CloudInitError) -> CloudInitContent {
        let content = try source.resolve(secretDirectory: secretDirectory)
        let image = try image(source.dataSource, content: content, identity: identity, recordingTime: recordingTime)
        let bytes: [UInt8]
        do throws(ISO9660Error) { bytes = try image.serialized() } catch { throw .image(error) }
        try CloudInitFiles.writeAtomically(bytes, to: path).get()
        return content
    }
}
