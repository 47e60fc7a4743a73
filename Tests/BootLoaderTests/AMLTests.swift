// The AML encodings against hand-computed bytes from the ACPI 6.5 grammar (chapter 20) and what
// iasl emits for the same ASL.
import BootLoader
import Testing

@Suite struct AMLTests {
    @Test func nameSegmentsArePaddedWithUnderscore() throws {
        #expect(try AML.nameSegment("_S5") == Array("_S5_".utf8))
        #expect(try AML.nameSegment("A") == Array("A___".utf8))
        #expect(try AML.nameSegment("COM1") == Array("COM1".utf8))
        #expect(throws: AMLError.invalidNameSegment("1ABC")) { try AML.nameSegment("1ABC") }
        #expect(throws: AMLError.invalidNameSegment("ABCDE")) { try AML.nameSegment("ABCDE") }
        #expect(throws: AMLError.invalidNameSegment("")) { try AML.nameSegment("") }
        #expect(throws: AMLError.invalidNameSegment("ab")) { try AML.nameSegment("ab") }
    }

    @Test func nameStringPrefixes() throws {
        #expect(try AML.nameString("\\_SB") == [0x5C] + Array("_SB_".utf8))
        #expect(try AML.nameString("\\") == [0x5C, 0x00])
        #expect(try AML.nameString("^^FOO") == [0x5E, 0x5E] + Array("FOO_".utf8))
        #expect(try AML.nameString("\\_SB.COM1") == [0x5C, 0x2E] + Array("_SB_COM1".utf8))
        #expect(try AML.nameString("_SB.PCI0.ISA") == [0x2F, 3] + Array("_SB_PCI0ISA_".utf8))
        #expect(throws: AMLError.invalidNamePath("A..B")) { try AML.nameString("A..B") }
    }

    @Test func packageLengthForms() throws {
        // One byte: the value (body + 1) in bits 5-0, up to 63.
        #expect(try AML.packageLength(0) == [0x01])
        #expect(try AML.packageLength(62) == [0x3F])
        // Two bytes: 0x40 | low nibble, then bits 11-4; the count includes both bytes.
        #expect(try AML.packageLength(63) == [0x41, 0x04])        // 65 = 0x041
        #expect(try AML.packageLength(0xFFD) == [0x4F, 0xFF])     // 0xFFF, the largest 2-byte value
        // Three bytes: 0x80 | nibble, bits 11-4, bits 19-12.
        #expect(try AML.packageLength(0xFFE) == [0x81, 0x00, 0x01])   // 0x1001
        #expect(try AML.packageLength(0xF_FFFC) == [0x8F, 0xFF, 0xFF])
        // Four bytes.
        #expect(try AML.packageLength(0xF_FFFD) == [0xC1, 0x00, 0x00, 0x01])   // 0x100001
        #expect(throws: AMLError.lengthTooLarge(1 << 28)) { try AML.packageLength(1 << 28) }
    }

    @Test func integersUseTheShortestPrefix() {
        #expect(AML.integer(0) == [0x00])
        #expect(AML.integer(1) == [0x01])
        #expect(AML.integer(5) == [0x0A, 0x05])
        #expect(AML.integer(0xFF) == [0x0A, 0xFF])
        #expect(AML.integer(0x100) == [0x0B, 0x00, 0x01])
        #expect(AML.integer(0x3F8) == [0x0B, 0xF8, 0x03])
        #expect(AML.integer(0x1_0000) == [0x0C, 0x00, 0x00, 0x01, 0x00])
        #expect(AML.integer(0xD000_0000) == [0x0C, 0x00, 0x00, 0x00, 0xD0])
        #expect(AML.integer(0x1_0000_0000) == [0x0E, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(AML.integer(UInt64.max) == [0xFF])
    }

    @Test func eisaIDCompression() throws {
        #expect(try AML.eisaIDValue("PNP0501") == 0x0105_D041)
        #expect(try AML.eisaIDValue("PNP0303") == 0x0303_D041)
        #expect(try AML.eisaID("PNP0501") == [0x0C, 0x41, 0xD0, 0x05, 0x01])
        #expect(throws: AMLError.invalidEISAID("pnp0501")) { try AML.eisaIDValue("pnp0501") }
        #expect(throws: AMLError.invalidEISAID("PNP05G1")) { try AML.eisaIDValue("PNP05G1") }
    }

    @Test func stringsBuffersAndPackages() throws {
        #expect(try AML.string("LNRO0005") == [0x0D] + Array("LNRO0005".utf8) + [0])
        #expect(throws: AMLError.invalidString("é")) { try AML.string("é") }
        #expect(try AML.buffer([0xAA, 0xBB]) == [0x11, 0x05, 0x0A, 0x02, 0xAA, 0xBB])
        #expect(try AML.buffer([]) == [0x11, 0x02, 0x00])
        // Name (_S5, Package () { 5, 0 }) as iasl compiles it.
        #expect(try AML.name("_S5", try AML.package([AML.integer(5), AML.integer(0)]))
                == [0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x05, 0x02, 0x0A, 0x05, 0x00])
        let many = [[UInt8]](repeating: [0x00], count: 256)
        #expect(throws: AMLError.tooManyPackageElements(256)) { try AML.package(many) }
    }

    @Test func scopesAndDevices() throws {
        #expect(try AML.scope("\\_SB", []) == [0x10, 0x06, 0x5C] + Array("_SB_".utf8))
        #expect(try AML.device("COM1", [AML.name("_UID", AML.integer(1))])
                == [0x5B, 0x82, 0x0B] + Array("COM1".utf8) + [0x08] + Array("_UID".utf8) + [0x01])
        // A body past 62 bytes switches to the two-byte PkgLength.
        let big = try AML.device("BIG0", [[UInt8](repeating: 0xA3, count: 100)])   // 0xA3 = NoopOp
        #expect(Array(big[0..<4]) == [0x5B, 0x82, 0x4A, 0x06])   // 4 + 100 + 2 = 106 = 0x06A
        #expect(big.count == 2 + 2 + 4 + 100)
    }

    @Test func resourceDescriptors() throws {
        #expect(AMLResource.io(minimum: 0x3F8, maximum: 0x3F8, alignment: 0, length: 8)
                == [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08])
        #expect(try AMLResource.irqNoFlags([4]) == [0x22, 0x10, 0x00])
        #expect(try AMLResource.irqNoFlags([1, 12]) == [0x22, 0x02, 0x10])
        #expect(throws: AMLError.irqOutOfRange(16)) { try AMLResource.irqNoFlags([16]) }
        #expect(AMLResource.memory32Fixed(base: 0xD000_0000, length: 0x1000)
                == [0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00])
        #expect(try AMLResource.interrupt([5], trigger: .edge)
                == [0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00])
        #expect(try AMLResource.interrupt([5], trigger: .level, polarity: .activeLow, shared: true)[3] == 0x0D)
        #expect(throws: AMLError.interruptCount(0)) { try AMLResource.interrupt([], trigger: .edge) }
        // ResourceTemplate () { IRQNoFlags () {4} }: a Buffer of the descriptor and an End Tag.
        #expect(try AMLResource.template([AMLResource.irqNoFlags([4])])
                == [0x11, 0x08, 0x0A, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00])
    }

    /// The Generic Event Device's `_EVT` pieces (ACPI 6.5 §20.2.5), bytes as iasl emits them.
    @Test func controlMethodTerms() throws {
        let gdst = Array("GDST".utf8), gdat = Array("GDAT".utf8)
        #expect(try AML.operationRegion("GDST", space: .systemIO, offset: 0x3C4, length: 1)
                == [0x5B, 0x80] + gdst + [0x01, 0x0B, 0xC4, 0x03, 0x01])
        // FieldFlags 0x41: ByteAcc (1), NoLock, WriteAsZeros (2 << 5); GDAT is 8 bits wide.
        #expect(try AML.field("GDST", access: .byte, update: .writeAsZeros, [(name: "GDAT", bits: 8)])
                == [0x5B, 0x81, 0x0B] + gdst + [0x41] + gdat + [0x08])
        // A field width is a bare value in PkgLength's layout: 64 bits needs the two-byte form.
        #expect(try AML.field("GDST", access: .any, update: .preserve, [(name: "GDAT", bits: 64)]).suffix(2) == [0x40, 0x04])
        #expect(throws: AMLError.lengthTooLarge(0)) { try AML.field("GDST", access: .byte, update: .preserve, [(name: "GDAT", bits: 0)]) }
        // Method (_EVT, 1, Serialized) {}: flags = ArgCount 1 | SerializeFlag.
        #expect(try AML.method("_EVT", argumentCount: 1, serialized: true, []) == [0x14, 0x06] + Array("_EVT".utf8) + [0x09])
        #expect(AML.store(try AML.reference("GDAT"), into: AML.local(0)) == [0x70] + gdat + [0x60])
        #expect(AML.and(AML.local(0), AML.integer(1)) == [0x7B, 0x60, 0x01, 0x00])
        #expect(AML.arg(0) == [0x68] && AML.local(7) == [0x67])
        let notify = try AML.notify("\\_SB.PWRB", 0x80)
        #expect(notify == [0x86, 0x5C, 0x2E] + Array("_SB_PWRB".utf8) + [0x0A, 0x80])
        // If (And (Local0, One)) { Notify (...) }: PkgLength covers the predicate and the body.
        #expect(try AML.ifThen(AML.and(AML.local(0), AML.integer(1)), [notify])
                == [0xA0, UInt8(1 + 4 + notify.count), 0x7B, 0x60, 0x01, 0x00] + notify)
    }
}
