// ISO 9660 images read back by real tools: isoinfo (primary, Joliet and Rock Ridge views), blkid,
// and a read-only loop mount where the kernel has iso9660.
import Foundation
import Testing
@testable import PodIntegration

@Suite struct ISO9660ImageTests {
    let dir: CloudInitTempDir
    init() throws { dir = try CloudInitTempDir() }

    @Test func volumeDescriptorsAreWhatIsoinfoAndBlkidExpect() throws {
        var image = try ISO9660Image(volumeIdentifier: "cidata", recordingTime: cloudInitFixedTime)
        try image.addFile("user-data", contents: Array("#cloud-config\n".utf8))
        let path = try dir.image(image)
        let info = try ISOTools.run("isoinfo", ["-d", "-i", path])
        #expect(info.status == 0)
        #expect(info.text.contains("Volume id: cidata\n"))
        #expect(info.text.contains("Logical block size is: 2048"))
        #expect(info.text.contains("Joliet with UCS level 3 found"))
        #expect(info.text.contains("Rock Ridge signatures version 1 found"))
        let bytes = try image.serialized()
        #expect(info.text.contains("Volume size is: \(bytes.count / 2048)\n"))
        #expect(bytes.count % 2048 == 0)
        let blkid = try ISOTools.run("blkid", ["-o", "export", path])
        #expect(blkid.text.contains("LABEL=cidata\n"), "\(blkid.text)")
        #expect(blkid.text.contains("TYPE=iso9660\n"))
        // blkid's UUID is the volume's modification time.
        #expect(blkid.text.contains("UUID=2024-02-29-13-14-15-00\n"))
    }

    @Test func everyNameAndByteSurvivesInAllThreeViews() throws {
        let files: [(String, [UInt8])] = [
            ("user-data", Array("#cloud-config\nhostname: vm\n".utf8)),
            ("empty", []),
            ("exactly-one-sector", cloudInitBinaryPattern(2048)),
            ("spans-many-sectors.bin", cloudInitBinaryPattern(300_001)),
            ("données-é.txt", Array("naïve ünïcödé ✓ 日本語\n".utf8)),
            (String(repeating: "long-name-", count: 6) + "1234", cloudInitBinaryPattern(2049)),
            // These three map to the same 8.3 name and must stay distinct.
            ("user_data", Array("second".utf8)),
            ("USER-DATA", Array("third".utf8)),
            ("a/b/c/d/e/f/g/deepest-file", Array("seven directories down".utf8)),
            ("a/b/sibling.json", Array("{}".utf8)),
        ]
        var image = try ISO9660Image(volumeIdentifier: "cidata", recordingTime: cloudInitFixedTime)
        for (name, contents) in files { try image.addFile(name, contents: contents) }
        try image.addDirectory("empty-dir")
        let path = try dir.image(image)
        for mode in ["-J", "-R"] {
            // isoinfo matches -J paths in Latin-1, which a UTF-8 argument is not: the non-ASCII name
            // is read through Rock Ridge and checked in the Joliet listing below.
            for (name, contents) in files where mode == "-R" || name.utf8.allSatisfy({ $0 < 0x80 }) {
                #expect(try ISOTools.extract(path, "/" + name, mode: mode) == contents, "\(mode) \(name)")
            }
            let listing = try ISOTools.listing(path, mode: mode)
            #expect(Set(listing["/"] ?? []) == Set(["user-data", "empty", "exactly-one-sector", "spans-many-sectors.bin",
                                                    "données-é.txt", files[5].0, "user_data", "USER-DATA", "a", "empty-dir"]),
                    "\(mode): \(listing["/"] ?? [])")
            #expect(listing["/a/b/c/d/e/f/g/"] == ["deepest-file"])
            #expect(listing["/empty-dir/"] == [])
        }
        // The primary names are unique 8.3 names, and the primary view reads the same bytes.
        let primary = try ISOTools.listing(path, mode: nil)["/"] ?? []
        #expect(Set(primary).count == primary.count)
        #expect(primary.allSatisfy { $0.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.;".contains($0) } }, "\(primary)")
        #expect(primary.contains("USER_DAT.;1"))
    }

    @Test func aDirectoryLargerThanOneSectorIsListedCompletely() throws {
        var image = try ISO9660Image(volumeIdentifier: "many", recordingTime: cloudInitFixedTime)
        // ~150-byte Rock Ridge records: 60 of them need several directory sectors.
        let names = (0..<60).map { "file-with-a-rather-long-name-number-\($0)" }
        for (index, name) in names.enumerated() { try image.addFile(name, contents: Array("\(index)".utf8)) }
        let path = try dir.image(image)
        for mode in ["-J", "-R"] {
            #expect(Set(try ISOTools.listing(path, mode: mode)["/"] ?? []) == Set(names))
            #expect(try ISOTools.extract(path, "/" + names[59], mode: mode) == Array("59".utf8))
        }
    }

    @Test func sameInputGivesTheSameBytes() throws {
        func build() throws -> [UInt8] {
            var image = try ISO9660Image(volumeIdentifier: "config-2", recordingTime: cloudInitFixedTime)
            try image.addFile("openstack/latest/user_data", contents: [1, 2, 3])
            try image.addFile("openstack/latest/meta_data.json", contents: Array("{}".utf8))
            return try image.serialized()
        }
        #expect(try build() == build())
    }

    @Test func loopMountReadsTheFilesBack() throws {
        var image = try ISO9660Image(volumeIdentifier: "cidata", recordingTime: cloudInitFixedTime)
        let big = cloudInitBinaryPattern(70_000)
        try image.addFile("user-data", contents: big)
        try image.addFile("meta-data", contents: [])
        try image.addFile("openstack/latest/meta_data.json", contents: Array("{\"a\":1}".utf8))
        let path = try dir.image(image)
        // Default mount uses Rock Ridge; "norock" makes Linux use Joliet names.
        for options in ["loop,ro", "loop,ro,norock"] {
            _ = try ISOTools.withLoopMount(path, in: dir, options: options) { point in
                #expect(FileManager.default.contents(atPath: point + "/user-data").map(Array.init) == big)
                #expect(FileManager.default.contents(atPath: point + "/meta-data").map(Array.init) == [])
                #expect(FileManager.default.contents(atPath: point + "/openstack/latest/meta_data.json")
                    .map(Array.init) == Array("{\"a\":1}".utf8))
            }
        }
    }

    @Test func hostileNamesAreRefusedWithTheReason() throws {
        var image = try ISO9660Image(volumeIdentifier: "cidata", recordingTime: cloudInitFixedTime)
        let refused = ["", "/absolute", "a//b", "trailing/", ".", "..", "a/../b", "colon:", "semi;1", "star*", "what?",
                       "back\\slash", "tab\there", "nul\u{0}", String(repeating: "x", count: 65), "emoji-😀",
                       String(repeating: "é", count: 65)]
        for name in refused {
            #expect(throws: ISO9660Error.self, "\(name)") { try image.addFile(name, contents: []) }
        }
        #expect(throws: ISO9660Error.invalidName(path: "a//b", reason: "empty component (leading, trailing or double '/')")) {
            try image.addFile("a//b", contents: [])
        }
        // 64 characters is the Joliet limit and is accepted.
        try image.addFile(String(repeating: "x", count: 64), contents: [])
        try image.addFile("file", contents: [])
        #expect(throws: ISO9660Error.duplicatePath("file")) { try image.addFile("file", contents: [1]) }
        #expect(throws: ISO9660Error.duplicatePath("file")) { try image.addFile("file/child", contents: []) }
        #expect(throws: ISO9660Error.duplicatePath("file")) { try image.addDirectory("file") }
        try image.addDirectory("dir")
        #expect(throws: ISO9660Error.duplicatePath("dir")) { try image.addFile("dir", contents: []) }
        // Seven directories below the root is the limit (eight levels with the root).
        #expect(throws: ISO9660Error.tooDeep(path: "1/2/3/4/5/6/7/8/file")) {
            try image.addFile("1/2/3/4/5/6/7/8/file", contents: [])
        }
        #expect(throws: ISO9660Error.tooDeep(path: "1/2/3/4/5/6/7/8")) { try image.addDirectory("1/2/3/4/5/6/7/8") }
        for volume in ["", String(repeating: "v", count: 33), "ci data", "ci/data", "ümlaut"] {
            #expect(throws: ISO9660Error.invalidVolumeIdentifier(volume)) {
                try ISO9660Image(volumeIdentifier: volume, recordingTime: cloudInitFixedTime)
            }
        }
    }

    @Test func timestampsConvertFromUnixTime() {
        #expect(ISO9660Timestamp(unixTime: 0) == ISO9660Timestamp(year: 1970, month: 1, day: 1))
        #expect(ISO9660Timestamp(unixTime: 1_709_212_455) == cloudInitFixedTime)  // 2024-02-29 13:14:15 UTC
        #expect(ISO9660Timestamp(unixTime: 951_782_400) == ISO9660Timestamp(year: 2000, month: 2, day: 29))
        #expect(cloudInitFixedTime.volumeDescriptorBytes == Array("2024022913141500".utf8) + [0])
        #expect(cloudInitFixedTime.directoryRecordBytes == [124, 2, 29, 13, 14, 15, 0])
    }
}
