// The AML terms a control method needs (ACPI 6.5 §20.2.5): operation regions and fields (a
// register the interpreter reads), Method, If, And, Store and Notify. Enough for the Generic
// Event Device's `_EVT`, which reads the VMM's event register and notifies the power button; each
// function returns one encoded term, as in AML.swift (whose opcode table lists theirs too).

extension AML {
    /// Address spaces of an OperationRegion (ACPI 6.5 §19.6.100).
    public enum RegionSpace: UInt8, Sendable { case systemMemory = 0, systemIO = 1 }

    /// Field access widths and update rules (FieldFlags: bits 0-3 AccessType, 4 LockRule,
    /// 5-6 UpdateRule).
    public enum FieldAccess: UInt8, Sendable { case any = 0, byte = 1, word = 2, dword = 3 }
    public enum FieldUpdate: UInt8, Sendable { case preserve = 0, writeAsOnes = 1, writeAsZeros = 2 }

    /// LocalN (0-7) and ArgN (0-6) as terms; out-of-range indices are clamped to the last one,
    /// which a table author notices in `iasl -d` output rather than in a trap at boot.
    public static func local(_ n: Int) -> [UInt8] { [local0Op + UInt8(min(max(n, 0), 7))] }
    public static func arg(_ n: Int) -> [UInt8] { [arg0Op + UInt8(min(max(n, 0), 6))] }

    /// A reference to a named object (a SuperName / TermArg): just its NameString.
    public static func reference(_ path: String) throws(AMLError) -> [UInt8] { try nameString(path) }

    /// OperationRegion(name, space, offset, length): ExtOpPrefix OpRegionOp NameString RegionSpace
    /// RegionOffset RegionLen.
    public static func operationRegion(_ name: String, space: RegionSpace, offset: UInt64,
                                       length: UInt64) throws(AMLError) -> [UInt8] {
        [extOpPrefix, opRegionOp] + (try nameString(name)) + [space.rawValue] + integer(offset) + integer(length)
    }

    /// Field(region, access, NoLock, update){name, bits...}: ExtOpPrefix FieldOp PkgLength
    /// NameString FieldFlags FieldList; each NamedField is a NameSeg and its width as a PkgLength.
    public static func field(_ region: String, access: FieldAccess, update: FieldUpdate,
                             _ units: [(name: String, bits: Int)]) throws(AMLError) -> [UInt8] {
        var body = (try nameString(region)) + [access.rawValue | update.rawValue << 5]
        for unit in units { body += (try nameSegment(unit.name)) + (try fieldWidth(unit.bits)) }
        return [extOpPrefix, fieldOp] + (try packageLength(body.count)) + body
    }

    /// A field unit's width in bits, in PkgLength's byte layout but holding the bare value: unlike
    /// a package's length it does not count its own bytes.
    static func fieldWidth(_ bits: Int) throws(AMLError) -> [UInt8] {
        guard bits > 0, bits < 1 << 28 else { throw .lengthTooLarge(bits) }
        if bits <= 0x3F { return [UInt8(bits)] }
        return pkgLengthBytes(bits, following: bits < 1 << 12 ? 1 : bits < 1 << 20 ? 2 : 3)
    }

    /// Method(name, argCount, Serialized or NotSerialized){terms}: MethodOp PkgLength NameString
    /// MethodFlags (bits 0-2 ArgCount, bit 3 SerializeFlag) TermList.
    public static func method(_ name: String, argumentCount: Int, serialized: Bool,
                              _ terms: [[UInt8]]) throws(AMLError) -> [UInt8] {
        let flags = UInt8(min(max(argumentCount, 0), 7)) | (serialized ? 0x08 : 0)
        let body = (try nameString(name)) + [flags] + terms.flatMap { $0 }
        return [methodOp] + (try packageLength(body.count)) + body
    }

    /// Store(source, target): StoreOp TermArg SuperName.
    public static func store(_ source: [UInt8], into target: [UInt8]) -> [UInt8] { [storeOp] + source + target }

    /// And(a, b) with no target (NullName): the value is the term's result.
    public static func and(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] { [andOp] + a + b + [zeroOp] }

    /// If(predicate){terms}: IfOp PkgLength Predicate TermList.
    public static func ifThen(_ predicate: [UInt8], _ terms: [[UInt8]]) throws(AMLError) -> [UInt8] {
        let body = predicate + terms.flatMap { $0 }
        return [ifOp] + (try packageLength(body.count)) + body
    }

    /// Notify(object, value): NotifyOp SuperName TermArg.
    public static func notify(_ path: String, _ value: UInt64) throws(AMLError) -> [UInt8] {
        [notifyOp] + (try nameString(path)) + integer(value)
    }
}
