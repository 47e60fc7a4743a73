// Base64 as KubeVirt decodes userDataBase64/networkDataBase64: Go's base64.StdEncoding, which
// wants the standard alphabet with `=` padding and skips CR and LF anywhere (so a value wrapped by
// `base64` at 76 columns decodes). Anything else is an error with the offending offset, so the
// launcher refuses what KubeVirt would refuse instead of feeding the guest half a script.

enum CloudInitBase64 {
    enum Failure: Error, Equatable {
        /// A byte outside the alphabet, or `=` where no padding may be, at this offset of the input.
        case invalidCharacter(offset: Int)
        /// The input (newlines skipped) is not whole 4-character groups.
        case truncated
    }

    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = Int8(index)
        }
        return table
    }()

    static func decode(_ text: String) -> Result<[UInt8], Failure> {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count / 4 * 3)
        var group: [UInt8] = []       // up to 4 sextets
        var padding = 0
        var finished = false           // a padded group ends the data
        for (offset, byte) in text.utf8.enumerated() {
            if byte == 0x0A || byte == 0x0D { continue }
            if finished { return .failure(.invalidCharacter(offset: offset)) }
            if byte == UInt8(ascii: "=") {
                // Padding only in the last two places of a group, after at least two characters.
                guard group.count + padding >= 2, group.count + padding < 4 else { return .failure(.invalidCharacter(offset: offset)) }
                padding += 1
                if group.count + padding == 4 {
                    flush(group, into: &output)
                    group.removeAll()
                    finished = true
                }
                continue
            }
            // Data after padding (even in a new group) is what Go rejects as well.
            guard padding == 0, values[Int(byte)] >= 0 else { return .failure(.invalidCharacter(offset: offset)) }
            group.append(UInt8(values[Int(byte)]))
            if group.count == 4 {
                flush(group, into: &output)
                group.removeAll()
            }
        }
        guard group.isEmpty else { return .failure(.truncated) }
        return .success(output)
    }

    /// 2, 3 or 4 sextets → 1, 2 or 3 bytes. Bits below the last whole byte are dropped (Go's
    /// non-strict mode does not check that they are zero).
    private static func flush(_ group: [UInt8], into output: inout [UInt8]) {
        var bits: UInt32 = 0
        for sextet in group { bits = bits << 6 | UInt32(sextet) }
        bits <<= 6 * UInt32(4 - group.count)
        let bytes = [UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits)]
        output += bytes.prefix(group.count - 1)
    }
}
