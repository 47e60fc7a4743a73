// Cloud-init inputs resolved as KubeVirt resolves them, the meta-data it writes, and whole NoCloud
// and ConfigDrive images read back with isoinfo, blkid and (where possible) a loop mount.
import Foundation
import Testing
@testable import PodIntegration

@Suite struct CloudInitBase64Tests {
    func decode(_ text: String) -> Result<[UInt8], CloudInitBase64.Failure> { CloudInitBase64.decode(text) }

    @Test func decodesPaddedInputAndSkipsLineBreaks() {
        #expect(decode("I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogZmVkb3JhCg==") == .success(Array("#cloud-config\npassword: fedora\n".utf8)))
        #expect(decode("I2Nsb3Vk\nLWNvbmZp\r\nZwpwYXNzd29yZDogZmVkb3JhCg==\n") == .success(Array("#cloud-config\npassword: fedora\n".utf8)))
        #expect(decode("") == .success([]))
        #expect(decode("AA==") == .success([0]))
        #expect(decode("AAA=") == .success([0, 0]))
        #expect(decode("+/+/") == .success([0xFB, 0xFF, 0xBF]))
    }

    @Test func refusesWhatGoRefuses() {
        #expect(decode("I2Nsb3Vk LWNv") == .failure(.invalidCharacter(offset: 8)))   // space
        #expect(decode("I2N") == .failure(.truncated))                                 // no padding
        #expect(decode("A===") == .failure(.invalidCharacter(offset: 1)))              // too much padding
        #expect(decode("=AAA") == .failure(.invalidCharacter(offset: 0)))
        #expect(decode("AA==AA==") == .failure(.invalidCharacter(offset: 4)))          // data after padding
        #expect(decode("AA=A") == .failure(.invalidCharacter(offset: 3)))
        #expect(decode("ab-_") == .failure(.invalidCharacter(offset: 2)))              // URL alphabet
    }
}

@Suite struct CloudInitSourceTests {
    let dir: CloudInitTempDir
    init() throws { dir = try CloudInitTempDir() }

    func source(_ configure: (inout CloudInitVolumeSource) -> Void) -> CloudInitVolumeSource {
        var source = CloudInitVolumeSource(dataSource: .noCloud, volumeName: "cloudinitdisk",
                                           fieldPath: "spec.volumes[1].cloudInitNoCloud")
        configure(&source)
        return source
    }

    @Test func inlineWinsOverBase64AndBase64IsDecoded() throws {
        let both = source { $0.userData = "inline"; $0.userDataBase64 = "YmFzZTY0" }
        #expect(try both.resolve(secretDirectory: dir.path) == CloudInitContent(userData: Array("inline".utf8)))
        let encoded = source { $0.userDataBase64 = "H4sIAAAAAAAA/w=="; $0.networkDataBase64 = "dmVyc2lvbjogMgo=" }
        // Binary (a gzip header) passes through as bytes.
        #expect(try encoded.resolve(secretDirectory: dir.path)
            == CloudInitContent(userData: [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF], networkData: Array("version: 2\n".utf8)))
    }

    @Test func badBase64NamesTheField() {
        let bad = source { $0.userDataBase64 = "not base64!" }
        #expect(throws: CloudInitError.invalidBase64(field: "spec.volumes[1].cloudInitNoCloud.userDataBase64", offset: 3)) {
            try bad.resolve(secretDirectory: dir.path)
        }
        let cut = source { $0.userData = "x"; $0.networkDataBase64 = "dmVyc2lvbjogMgo" }
        #expect(throws: CloudInitError.invalidBase64(field: "spec.volumes[1].cloudInitNoCloud.networkDataBase64", offset: nil)) {
            try cut.resolve(secretDirectory: dir.path)
        }
        #expect(throws: CloudInitError.noData(field: "spec.volumes[1].cloudInitNoCloud")) {
            try source { _ in }.resolve(secretDirectory: dir.path)
        }
    }

    @Test func secretsAreReadFromTheVolumeDirectoryUnderEitherKeySpelling() throws {
        _ = try dir.write("cloudinitdisk/userdata", Array("#from-secret\n".utf8))
        _ = try dir.write("cloudinitdisk/networkData", Array("version: 1\n".utf8))
        let referenced = source {
            $0.userData = "inline loses"
            $0.userDataSecretRef = "my-secret"
            $0.networkDataSecretRef = "my-secret"
        }
        #expect(try referenced.resolve(secretDirectory: dir.path)
            == CloudInitContent(userData: Array("#from-secret\n".utf8), networkData: Array("version: 1\n".utf8)))
        // Kubernetes mounts secret keys as symbolic links into ..data: they are followed.
        let linked = try CloudInitTempDir()
        _ = try linked.write("vol/..data/userData", Array("via link".utf8))
        try FileManager.default.createSymbolicLink(atPath: linked.path + "/vol/userData", withDestinationPath: "..data/userData")
        let viaLink = source { $0.volumeName = "vol"; $0.userDataSecretRef = "s" }
        #expect(try viaLink.resolve(secretDirectory: linked.path).userData == Array("via link".utf8))
    }

    @Test func aMissingSecretIsAnErrorListingThePathsTried() {
        let missing = source { $0.userData = "x"; $0.networkDataSecretRef = "net" }
        #expect(throws: CloudInitError.secretNotFound(
            field: "spec.volumes[1].cloudInitNoCloud.networkDataSecretRef",
            triedPaths: [dir.path + "/cloudinitdisk/networkdata", dir.path + "/cloudinitdisk/networkData"])) {
            try missing.resolve(secretDirectory: dir.path)
        }
        let escaping = source { $0.volumeName = ".."; $0.userDataSecretRef = "s" }
        #expect(throws: CloudInitError.invalidVolumeName(field: "spec.volumes[1].cloudInitNoCloud", name: "..")) {
            try escaping.resolve(secretDirectory: dir.path)
        }
    }
}

@Suite struct CloudInitMetadataTests {
    @Test func identityFollowsKubeVirt() {
        let vm = CloudInitIdentity(name: "fedora-vm", namespace: "default")
        // uuid.NewSHA1(KubeVirt's firmware namespace, "fedora-vm"), as for a VMI a VM created.
        #expect(vm.uuid == "bb0bebea-15a4-55d1-8a61-c5e10c294b1d")
        #expect(vm.hostname == "fedora-vm")
        #expect(CloudInitIdentity(name: "web.prod.example", namespace: "ns").hostname == "web")
        #expect(CloudInitIdentity(name: String(repeating: "a", count: 80), namespace: "ns").hostname.count == 63)
        let explicit = CloudInitIdentity(name: "x.y", namespace: "ns", specHostname: "my-host",
                                         firmwareUUID: "5d307ca9-b3ef-428c-8861-06e72d69f223")
        #expect(explicit.hostname == "my-host" && explicit.uuid == "5d307ca9-b3ef-428c-8861-06e72d69f223")
    }

    @Test func metaDataIsKubeVirtsJSON() {
        let identity = CloudInitIdentity(name: "testvmi", namespace: "default",
                                         firmwareUUID: "5d307ca9-b3ef-428c-8861-06e72d69f223")
        #expect(String(decoding: identity.noCloudMetaData, as: UTF8.self)
            == #"{"instance-id":"5d307ca9-b3ef-428c-8861-06e72d69f223","local-hostname":"testvmi"}"#)
        #expect(String(decoding: identity.configDriveMetaData, as: UTF8.self)
            == #"{"instance-id":"testvmi.default","instance_id":"testvmi.default","hostname":"testvmi","uuid":"5d307ca9-b3ef-428c-8861-06e72d69f223"}"#)
        var typed = identity
        typed.instanceType = "u1.<small>&\"q\"\n"
        typed.publicKeys = ["1": "ssh-ed25519 BBB", "0": "ssh-rsa AAA"]
        #expect(String(decoding: typed.noCloudMetaData, as: UTF8.self)
            == #"{"instance-type":"u1.\u003csmall\u003e\u0026\"q\"\n","instance-id":"5d307ca9-b3ef-428c-8861-06e72d69f223","local-hostname":"testvmi","public-keys":{"0":"ssh-rsa AAA","1":"ssh-ed25519 BBB"}}"#)
    }

    @Test func sha1MatchesTheStandardVectors() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(CloudInitSHA1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(CloudInitSHA1.digest([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(CloudInitSHA1.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }
}

@Suite struct CloudInitDiskTests {
    let dir: CloudInitTempDir
    init() throws { dir = try CloudInitTempDir() }

    let identity = CloudInitIdentity(name: "testvmi", namespace: "default",
                                     firmwareUUID: "5d307ca9-b3ef-428c-8861-06e72d69f223")

    @Test func noCloudImageHasTheFilesCloudInitReads() throws {
        let userData = Array("#cloud-config\npassword: fedora\nchpasswd: { expire: False }\n".utf8)
        let source = CloudInitVolumeSource(dataSource: .noCloud, volumeName: "cloudinitdisk", fieldPath: "spec.volumes[1].cloudInitNoCloud",
                                           userDataBase64: "I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogZmVkb3JhCmNocGFzc3dkOiB7IGV4cGlyZTogRmFsc2UgfQo=",
                                           networkData: "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n")
        let path = dir.path + "/noCloud.iso"
        let content = try CloudInitDisk.write(source, identity: identity, to: path, secretDirectory: dir.path)
        #expect(content.userData == userData)
        #expect(!FileManager.default.fileExists(atPath: path + ".staging"))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try ISOTools.run("isoinfo", ["-d", "-i", path]).text.contains("Volume id: cidata\n"))
        #expect(try ISOTools.run("blkid", ["-o", "export", path]).text.contains("LABEL=cidata\n"))
        for mode in ["-J", "-R"] {
            #expect(Set(try ISOTools.listing(path, mode: mode)["/"] ?? []) == ["user-data", "meta-data", "network-config"])
            #expect(try ISOTools.extract(path, "/user-data", mode: mode) == userData)
            #expect(try ISOTools.extract(path, "/meta-data", mode: mode) == identity.noCloudMetaData)
            #expect(try ISOTools.extract(path, "/network-config", mode: mode) == content.networkData)
        }
        _ = try ISOTools.withLoopMount(path, in: dir) { point in
            #expect(FileManager.default.contents(atPath: point + "/user-data").map(Array.init) == userData)
            #expect(FileManager.default.contents(atPath: point + "/meta-data").map(Array.init) == identity.noCloudMetaData)
        }
    }

    @Test func configDriveImageHasTheOpenStackLayout() throws {
        _ = try dir.write("cfgdisk/userData", Array("#!/bin/sh\necho hi\n".utf8))
        let source = CloudInitVolumeSource(dataSource: .configDrive, volumeName: "cfgdisk", fieldPath: "spec.volumes[0].cloudInitConfigDrive",
                                           userDataSecretRef: "user-secret")
        let path = dir.path + "/configdrive.iso"
        try CloudInitDisk.write(source, identity: identity, to: path, secretDirectory: dir.path)
        #expect(try ISOTools.run("isoinfo", ["-d", "-i", path]).text.contains("Volume id: config-2\n"))
        #expect(try ISOTools.run("blkid", ["-o", "export", path]).text.contains("LABEL=config-2\n"))
        for mode in ["-J", "-R"] {
            let listing = try ISOTools.listing(path, mode: mode)
            #expect(listing["/"] == ["openstack"] && listing["/openstack/"] == ["latest"])
            // No network data: no network_data.json, as KubeVirt writes it.
            #expect(Set(listing["/openstack/latest/"] ?? []) == ["meta_data.json", "user_data"])
            #expect(try ISOTools.extract(path, "/openstack/latest/user_data", mode: mode) == Array("#!/bin/sh\necho hi\n".utf8))
            #expect(try ISOTools.extract(path, "/openstack/latest/meta_data.json", mode: mode) == identity.configDriveMetaData)
        }
    }

    @Test func networkDataAloneGivesAnEmptyUserDataFile() throws {
        let source = CloudInitVolumeSource(dataSource: .noCloud, volumeName: "v", fieldPath: "f", networkData: "version: 2\n")
        let path = dir.path + "/net-only.iso"
        try CloudInitDisk.write(source, identity: identity, to: path, secretDirectory: dir.path)
        #expect(try ISOTools.extract(path, "/user-data", mode: "-R") == [])
        #expect(try ISOTools.extract(path, "/network-config", mode: "-R") == Array("version: 2\n".utf8))
    }

    @Test func aWriteFailureNamesThePathAndLeavesNothingBehind() throws {
        let source = CloudInitVolumeSource(dataSource: .noCloud, volumeName: "v", fieldPath: "f", userData: "x")
        let path = dir.path + "/missing-dir/seed.iso"
        #expect(throws: CloudInitError.io(.open, path: path + ".staging", errno: ENOENT)) {
            try CloudInitDisk.write(source, identity: identity, to: path, secretDirectory: dir.path)
        }
    }
}
