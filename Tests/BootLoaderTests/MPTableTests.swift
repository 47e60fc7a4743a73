// MP spec 1.4 tables: floating pointer and configuration table checksums, each entry's fields,
// the ISA routing, placement outside e820 RAM, and the vCPU bounds.
import BootLoader
import GuestMemory
import Testing

@Suite struct MPTableTests {
    @Test func floatingPointerAndHeader() throws {
        let bytes = try MPTable.bytes(vcpuCount: 2)
        let mp = MPTable(vcpuCount: 2)
        #expect(bytes.count == mp.size)
        #expect(Array(bytes[0..<4]) == Array("_MP_".utf8))
        #expect(le(bytes, 4, as: UInt32.self) == 0x9_FC10)
        #expect(bytes[8] == 1 && bytes[9] == 4)
        #expect(byteSum(bytes[0..<16]) == 0)
        #expect(Array(bytes[11..<16]) == [0, 0, 0, 0, 0])

        let table = Array(bytes[16...])
        #expect(Array(table[0..<4]) == Array("PCMP".utf8))
        #expect(Int(le(table, 4, as: UInt16.self)) == table.count)
        #expect(table[6] == 4)
        #expect(byteSum(table) == 0)
        #expect(Array(table[8..<16]) == Array("SWIFTVMM".utf8))
        #expect(Array(table[16..<28]) == Array("SWIFTVMM    ".utf8))
        #expect(le(table, 28, as: UInt32.self) == 0 && le(table, 32, as: UInt16.self) == 0)
        #expect(Int(le(table, 34, as: UInt16.self)) == mp.entryCount)
        #expect(le(table, 36, as: UInt32.self) == 0xFEE0_0000)
        #expect(le(table, 40, as: UInt16.self) == 0 && table[42] == 0)
    }

    @Test(arguments: [1, 3, 254]) func entries(vcpus: Int) throws {
        let mp = MPTable(vcpuCount: vcpus, cpuSignature: 0x6F1, featureFlags: 0x1234_5678)
        let table = Array(try mp.bytes()[16...])
        #expect(byteSum(table) == 0)
        // Walk: processors are 20 bytes, everything else 8.
        var offset = 44
        var processors: [[UInt8]] = [], others: [[UInt8]] = []
        while offset < table.count {
            let size = table[offset] == 0 ? 20 : 8
            try #require(offset + size <= table.count)
            if size == 20 { processors.append(Array(table[offset..<offset + 20])) } else { others.append(Array(table[offset..<offset + 8])) }
            offset += size
        }
        #expect(processors.count == vcpus)
        #expect(processors.count + others.count == Int(le(table, 34, as: UInt16.self)))
        for (i, cpu) in processors.enumerated() {
            #expect(cpu[1] == UInt8(i) && cpu[2] == 0x14)
            #expect(cpu[3] == (i == 0 ? 3 : 1))
            #expect(le(cpu, 4, as: UInt32.self) == 0x6F1 && le(cpu, 8, as: UInt32.self) == 0x1234_5678)
            #expect(Array(cpu[12..<20]) == [UInt8](repeating: 0, count: 8))
        }
        #expect(others[0] == [1, 0] + Array("ISA   ".utf8))
        #expect(others[1] == [2, UInt8(vcpus), 0x11, 1, 0x00, 0x00, 0xC0, 0xFE])
        let io = others.filter { $0[0] == 3 }
        #expect(io.count == 15)
        #expect(io.allSatisfy { $0[1] == 0 && $0[2] == 0 && $0[3] == 0 && $0[4] == 0 && $0[6] == UInt8(vcpus) })
        let routing = Dictionary(uniqueKeysWithValues: io.map { ($0[5], $0[7]) })
        #expect(routing[0] == 2 && routing[1] == 1 && routing[2] == nil && routing[15] == 15)
        #expect(Set(routing.values).count == 15)   // no pin used twice
        let local = others.filter { $0[0] == 4 }
        #expect(local == [[4, 3, 0, 0, 0, 0, 0, 0], [4, 1, 0, 0, 0, 0, 0xFF, 1]])
    }

    @Test func writeOutsideE820RAM() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(64))
        let range = try MPTable(vcpuCount: 8).write(into: memory)
        #expect(range.start == GuestAddress(0x9_FC00))
        #expect(try memory.read(count: Int(range.length), at: range.start) == (try MPTable.bytes(vcpuCount: 8)))
        #expect(!E820Map(memory: memory).entries.contains { $0.type == .ram && $0.range.overlaps(range) })
        // Even the largest table stays in the legacy hole, clear of the ACPI tables at 0xE0000.
        let largest = MPTable(vcpuCount: 254)
        #expect(0x9_FC00 + largest.size < 0xE_0000)
        #expect(try largest.bytes().count == largest.size)
    }

    @Test func rejected() {
        #expect(throws: FirmwareTableError.vcpuCountOutOfRange(0, supported: 1...254)) { try MPTable.bytes(vcpuCount: 0) }
        #expect(throws: FirmwareTableError.vcpuCountOutOfRange(255, supported: 1...254)) { try MPTable.bytes(vcpuCount: 255) }
        #expect(throws: FirmwareTableError.misaligned(GuestAddress(0x9_FC04), alignment: 16)) {
            try MPTable.bytes(vcpuCount: 1, at: GuestAddress(0x9_FC04))
        }
        #expect(throws: FirmwareTableError.self) { try MPTable.bytes(vcpuCount: 1, at: GuestAddress(0xFFFF_FFF0)) }
    }
}
