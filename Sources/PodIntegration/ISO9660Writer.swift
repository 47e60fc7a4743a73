// Lays an ISO9660Image out in 2048-byte sectors and serialises it. Sector map:
//   0-15   system area (zeros)
//   16     primary volume descriptor        17  Joliet supplementary volume descriptor
//   18     volume descriptor set terminator
//   19...  path tables: primary L, primary M, Joliet L, Joliet M (each a whole number of sectors)
//   then   the Rock Ridge continuation area holding the ER entry (one sector)
//   then   primary directories, Joliet directories (in path table order)
//   then   file data, shared by both trees (each file starts on a sector boundary)
// Sizes depend only on names, so every size is known before any location is assigned.

struct ISO9660Writer {
    private typealias Bytes = ISO9660Bytes

    private enum Child: Hashable {
        case directory(Int)
        case file(Int)
    }

    private struct Directory {
        var name: String
        var parent: Int
        var children: [Child] = []
    }

    private struct File {
        var name: String
        var contents: [UInt8]
    }

    /// One of the two directory trees (primary with Rock Ridge, or Joliet).
    private struct Tree {
        var joliet: Bool
        /// Directory indices in path table order; `number[dir]` is the 1-based path table number.
        var order: [Int] = []
        var number: [Int: Int] = [:]
        /// Children of each directory in on-disc order.
        var sortedChildren: [Int: [Child]] = [:]
        var extent: [Int: UInt32] = [:]
        var sectors: [Int: Int] = [:]
        var pathTableSize = 0
        var pathTableL: UInt32 = 0
        var pathTableM: UInt32 = 0
    }

    private let image: ISO9660Image
    private var directories: [Directory] = []
    private var files: [File] = []
    private var primaryID: [Child: [UInt8]] = [:]
    private var fileExtent: [Int: UInt32] = [:]
    private var continuationSector: UInt32 = 0
    private var totalSectors = 0

    init(image: ISO9660Image) {
        self.image = image
        // Sorted so the same input always gives the same bytes (and the same checksum).
        let directoryPaths = image.directories.sorted { $0.lexicographicallyPrecedes($1) }
        var index: [[String]: Int] = [:]
        for path in directoryPaths {
            index[path] = directories.count
            directories.append(Directory(name: path.last ?? "", parent: path.isEmpty ? 0 : index[Array(path.dropLast())]!))
            if !path.isEmpty { directories[index[Array(path.dropLast())]!].children.append(.directory(directories.count - 1)) }
        }
        for (path, contents) in image.files.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            files.append(File(name: path.last!, contents: contents))
            directories[index[Array(path.dropLast())]!].children.append(.file(files.count - 1))
        }
        for directory in directories {
            let entries = directory.children.map { (name: name(of: $0), isDirectory: isDirectory($0)) }
            for (child, id) in zip(directory.children, ISO9660Names.primaryIdentifiers(for: entries)) {
                primaryID[child] = id
            }
        }
    }

    private func name(of child: Child) -> String {
        switch child {
        case .directory(let d): directories[d].name
        case .file(let f): files[f].name
        }
    }

    private func isDirectory(_ child: Child) -> Bool {
        if case .directory = child { return true } else { return false }
    }

    private func identifier(of child: Child, in tree: Tree) -> [UInt8] {
        identifier(of: child, joliet: tree.joliet)
    }

    private func identifier(of child: Child, joliet: Bool) -> [UInt8] {
        joliet ? ISO9660Names.joliet(name(of: child)) : primaryID[child]!
    }

    mutating func write() throws(ISO9660Error) -> [UInt8] {
        var primary = makeTree(joliet: false)
        var joliet = makeTree(joliet: true)

        // Locations, in the order of the sector map above.
        var next = 19
        for tree in [0, 1] {
            var t = tree == 0 ? primary : joliet
            let sectors = sectorCount(t.pathTableSize)
            t.pathTableL = UInt32(next)
            t.pathTableM = UInt32(next + sectors)
            next += 2 * sectors
            if tree == 0 { primary = t } else { joliet = t }
        }
        continuationSector = UInt32(next)
        next += 1
        for tree in [0, 1] {
            var t = tree == 0 ? primary : joliet
            for d in t.order {
                t.extent[d] = UInt32(next)
                next += t.sectors[d]!
            }
            if tree == 0 { primary = t } else { joliet = t }
        }
        for d in primary.order {
            for case .file(let f) in primary.sortedChildren[d]! {
                // An empty file takes no sector; like genisoimage it points at where the next file starts.
                fileExtent[f] = UInt32(truncatingIfNeeded: next)
                next += sectorCount(files[f].contents.count)
                guard next < Int(UInt32.max) else {
                    throw .tooLarge(path: files[f].name, byteCount: files[f].contents.count)
                }
            }
        }
        totalSectors = next

        var out = [UInt8](repeating: 0, count: totalSectors * Bytes.sectorSize)
        put(volumeDescriptor(tree: primary), at: 16, in: &out)
        put(volumeDescriptor(tree: joliet), at: 17, in: &out)
        put([255] + Array("CD001".utf8) + [1], at: 18, in: &out)
        for tree in [primary, joliet] {
            put(pathTable(tree, bigEndian: false), at: Int(tree.pathTableL), in: &out)
            put(pathTable(tree, bigEndian: true), at: Int(tree.pathTableM), in: &out)
            for d in tree.order {
                put(directoryExtent(d, tree: tree), at: Int(tree.extent[d]!), in: &out)
            }
        }
        put(ISO9660RockRidge.er(), at: Int(continuationSector), in: &out)
        for (f, extent) in fileExtent where !files[f].contents.isEmpty {
            put(files[f].contents, at: Int(extent), in: &out)
        }
        return out
    }

    // MARK: - Trees

    private func makeTree(joliet: Bool) -> Tree {
        var tree = Tree(joliet: joliet)
        for (d, directory) in directories.enumerated() {
            tree.sortedChildren[d] = directory.children.sorted { a, b in
                let x = identifier(of: a, joliet: joliet), y = identifier(of: b, joliet: joliet)
                return joliet ? ISO9660Names.jolietPrecedes(x, y) : ISO9660Names.primaryPrecedes(x, y)
            }
        }
        // Path table order (ECMA-119 9.4): by level, then parent number, then identifier. Walking
        // breadth-first and taking each directory's subdirectories in identifier order gives exactly that.
        tree.order = [0]
        var cursor = 0
        while cursor < tree.order.count {
            for case .directory(let sub) in tree.sortedChildren[tree.order[cursor]]! { tree.order.append(sub) }
            cursor += 1
        }
        for (position, d) in tree.order.enumerated() { tree.number[d] = position + 1 }
        tree.pathTableSize = tree.order.reduce(0) { size, d in
            let id = d == 0 ? [UInt8(0)] : identifier(of: .directory(d), in: tree)
            return size + 8 + id.count + id.count % 2
        }
        for d in tree.order {
            let lengths = records(d, tree: tree).map(\.length)
            tree.sectors[d] = packedSectors(lengths)
        }
        return tree
    }

    /// Records never straddle a sector (ECMA-119 6.8.1.1): one that does not fit starts the next.
    private func packedSectors(_ lengths: [Int]) -> Int {
        var sectors = 1, used = 0
        for length in lengths {
            if used + length > Bytes.sectorSize { sectors += 1; used = 0 }
            used += length
        }
        return sectors
    }

    private func sectorCount(_ bytes: Int) -> Int { (bytes + Bytes.sectorSize - 1) / Bytes.sectorSize }

    private func subdirectoryCount(_ d: Int) -> Int {
        directories[d].children.filter(isDirectory).count
    }

    /// ".", "..", then the children, with Rock Ridge entries on the primary tree only. Extents are
    /// read from the tree when known; while sizing they are zero, which changes no length.
    private func records(_ d: Int, tree: Tree) -> [ISO9660DirectoryRecord] {
        let time = image.recordingTime
        let rockRidge = !tree.joliet
        func directorySize(_ dir: Int) -> UInt32 { UInt32((tree.sectors[dir] ?? 1) * Bytes.sectorSize) }
        func susp(_ mode: UInt32, _ links: Int, name: [UInt8]?) -> [UInt8] {
            guard rockRidge else { return [] }
            var entries = ISO9660RockRidge.rr(hasName: name != nil)
            if let name { entries += ISO9660RockRidge.nm(name) }
            return entries + ISO9660RockRidge.px(mode: mode, links: UInt32(links)) + ISO9660RockRidge.tf(time)
        }
        let parent = directories[d].parent
        var dotUse = susp(ISO9660RockRidge.directoryMode, 2 + subdirectoryCount(d), name: nil)
        if d == 0 && rockRidge {
            // SUSP 5.3: SP is the first entry of the root's "." record; CE leads to the ER entry.
            dotUse = ISO9660RockRidge.sp() + dotUse
                + ISO9660RockRidge.ce(sector: continuationSector, offset: 0, length: UInt32(ISO9660RockRidge.er().count))
        }
        var list = [
            ISO9660DirectoryRecord(extent: tree.extent[d] ?? 0, dataLength: directorySize(d), isDirectory: true,
                                   identifier: [0], systemUse: dotUse, time: time),
            ISO9660DirectoryRecord(extent: tree.extent[parent] ?? 0, dataLength: directorySize(parent), isDirectory: true,
                                   identifier: [1],
                                   systemUse: susp(ISO9660RockRidge.directoryMode, 2 + subdirectoryCount(parent), name: nil),
                                   time: time),
        ]
        for child in tree.sortedChildren[d]! {
            let realName = Array(name(of: child).utf8)
            switch child {
            case .directory(let sub):
                list.append(ISO9660DirectoryRecord(
                    extent: tree.extent[sub] ?? 0, dataLength: directorySize(sub), isDirectory: true,
                    identifier: identifier(of: child, in: tree),
                    systemUse: susp(ISO9660RockRidge.directoryMode, 2 + subdirectoryCount(sub), name: realName), time: time))
            case .file(let f):
                list.append(ISO9660DirectoryRecord(
                    extent: fileExtent[f] ?? 0, dataLength: UInt32(files[f].contents.count), isDirectory: false,
                    identifier: identifier(of: child, in: tree),
                    systemUse: susp(ISO9660RockRidge.fileMode, 1, name: realName), time: time))
            }
        }
        return list
    }

    private func directoryExtent(_ d: Int, tree: Tree) -> [UInt8] {
        var out: [UInt8] = []
        for record in records(d, tree: tree) {
            let used = out.count % Bytes.sectorSize
            if used + record.length > Bytes.sectorSize {
                out += [UInt8](repeating: 0, count: Bytes.sectorSize - used)
            }
            out += record.bytes()
        }
        return out
    }

    private func pathTable(_ tree: Tree, bigEndian: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for d in tree.order {
            let id = d == 0 ? [UInt8(0)] : identifier(of: .directory(d), in: tree)
            out += iso9660PathTableRecord(identifier: id, extent: tree.extent[d]!,
                                          parent: UInt16(tree.number[directories[d].parent]!), bigEndian: bigEndian)
        }
        return out
    }

    // MARK: - Volume descriptors (ECMA-119 8.4 and 8.5; Joliet adds the escape sequence)

    private func volumeDescriptor(tree: Tree) -> [UInt8] {
        let joliet = tree.joliet
        func text(_ string: String, _ width: Int) -> [UInt8] {
            joliet ? Bytes.paddedUCS2(ISO9660Names.joliet(string), to: width) : Bytes.padded(Array(string.utf8), to: width)
        }
        var out: [UInt8] = [joliet ? 2 : 1] + Array("CD001".utf8) + [1, 0]
        out += text("LINUX", 32)                                         // 8: system identifier
        out += text(image.volumeIdentifier, 32)                          // 40: volume identifier
        out += [UInt8](repeating: 0, count: 8)                           // 72: unused
        out += Bytes.both32(UInt32(totalSectors))                        // 80: volume space size
        // 88: unused in the primary; Joliet's escape sequence "%/E" = UCS-2 level 3.
        out += Bytes.padded(joliet ? [0x25, 0x2F, 0x45] : [], to: 32, pad: 0)
        out += Bytes.both16(1) + Bytes.both16(1)                         // 120: set size, sequence number
        out += Bytes.both16(UInt16(Bytes.sectorSize))                    // 128: logical block size
        out += Bytes.both32(UInt32(tree.pathTableSize))                  // 132: path table size
        out += Bytes.littleEndian32(tree.pathTableL) + [0, 0, 0, 0]      // 140: L table, optional L table
        out += Bytes.bigEndian32(tree.pathTableM) + [0, 0, 0, 0]         // 148: M table, optional M table
        out += ISO9660DirectoryRecord(extent: tree.extent[0]!, dataLength: UInt32(tree.sectors[0]! * Bytes.sectorSize),
                                      isDirectory: true, identifier: [0], time: image.recordingTime).bytes()  // 156
        out += text("", 128) + text("", 128) + text("", 128)             // 190: volume set, publisher, preparer
        out += text("SWIFT-VMM CLOUD-INIT", 128)                         // 574: application identifier
        out += text("", 37) + text("", 37) + text("", 37)                // 702: copyright, abstract, bibliographic
        let stamp = image.recordingTime.volumeDescriptorBytes
        out += stamp + stamp                                             // 813: creation, modification
        out += Array("0000000000000000".utf8) + [0]                      // 847: expiration: none
        out += stamp                                                     // 864: effective
        out += [1, 0]                                                    // 881: file structure version
        return Bytes.padded(out, to: Bytes.sectorSize, pad: 0)
    }

    private func put(_ bytes: [UInt8], at sector: Int, in out: inout [UInt8]) {
        let start = sector * Bytes.sectorSize
        out.replaceSubrange(start..<(start + bytes.count), with: bytes)
    }
}
