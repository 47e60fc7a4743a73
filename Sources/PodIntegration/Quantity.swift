// Kubernetes resource quantities ("128Mi", "1.5Gi", "500m", "1e9", "2"), parsed exactly as
// k8s.io/apimachinery/pkg/api/resource does: the value is kept as an exact decimal times a power of
// two or ten, never a floating-point number, so 1024M and 1Gi stay what they are.

/// What went wrong reading a quantity; the message quotes the input and says what is accepted.
public enum QuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case malformed(String)
    case unknownSuffix(String, suffix: String)
    case tooManyDigits(String)
    case exponentOutOfRange(String)

    public var description: String {
        let accepted = "a number with an optional suffix: Ki Mi Gi Ti Pi Ei, k M G T P E, m, or an exponent like 1e9"
        switch self {
        case .empty: return "empty quantity: expected \(accepted)"
        case let .malformed(s): return "'\(s.clipped)' is not a quantity: expected \(accepted)"
        case let .unknownSuffix(s, suffix): return "'\(s.clipped)' has unknown suffix '\(suffix.clipped)': expected Ki Mi Gi Ti Pi Ei, k M G T P E, m or e<exponent>"
        case let .tooManyDigits(s): return "'\(s.clipped)' has more digits than a quantity can hold"
        case let .exponentOutOfRange(s): return "'\(s.clipped)' has an exponent out of range"
        }
    }
}

/// A quantity's value: `negative ? -1 : 1` × `digits` × 10^-`fractionDigits` × the suffix's scale.
public struct Quantity: Sendable, Equatable, CustomStringConvertible {
    public enum Scale: Sendable, Equatable {
        /// Ki (2^10) ... Ei (2^60).
        case binary(powerOfTwo: Int)
        /// m (10^-3), none, k (10^3) ... E (10^18).
        case decimal(powerOfTen: Int)
        /// `1e9`, `5E-3`.
        case exponent(powerOfTen: Int)
    }

    public let text: String
    public let negative: Bool
    /// All digits of the number with the decimal point removed.
    public let digits: UInt128
    /// How many of `digits` were after the decimal point.
    public let fractionDigits: Int
    public let scale: Scale

    public var description: String { text }

    /// Whether the suffix was `m` (milli), which makes no sense for byte counts.
    public var isMilli: Bool { scale == .decimal(powerOfTen: -3) }

    public init(parsing text: String) throws(QuantityError) {
        self.text = text
        guard !text.isEmpty else { throw .empty }
        var chars = Array(text.utf8)[...]
        var negative = false
        if let c = chars.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            negative = c == UInt8(ascii: "-")
            chars = chars.dropFirst()
        }
        // <digits> | <digits>.<digits> | <digits>. | .<digits>
        var digits: UInt128 = 0
        var fractionDigits = 0
        var sawDigit = false, sawPoint = false
        var significant = 0
        while let c = chars.first {
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                sawDigit = true
                if digits != 0 || c != UInt8(ascii: "0") { significant += 1 }
                // 38 significant digits always fit in UInt128 (its maximum has 39).
                guard significant <= 38 else { throw .tooManyDigits(text) }
                digits = digits * 10 + UInt128(c - UInt8(ascii: "0"))
                if sawPoint { fractionDigits += 1 }
            } else if c == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                break
            }
            chars = chars.dropFirst()
        }
        guard sawDigit else { throw .malformed(text) }
        // Trailing zeros after the point say nothing about the value: 1.500Gi is 1.5Gi.
        while fractionDigits > 0, digits % 10 == 0 { digits /= 10; fractionDigits -= 1 }
        let suffix = String(decoding: chars, as: UTF8.self)
        self.negative = negative && digits != 0
        self.digits = digits
        self.fractionDigits = fractionDigits
        self.scale = try Quantity.scale(of: suffix, in: text)
    }

    private static func scale(of suffix: String, in text: String) throws(QuantityError) -> Scale {
        switch suffix {
        case "": return .decimal(powerOfTen: 0)
        case "m": return .decimal(powerOfTen: -3)
        case "k": return .decimal(powerOfTen: 3)
        case "M": return .decimal(powerOfTen: 6)
        case "G": return .decimal(powerOfTen: 9)
        case "T": return .decimal(powerOfTen: 12)
        case "P": return .decimal(powerOfTen: 15)
        case "E": return .decimal(powerOfTen: 18)
        case "Ki": return .binary(powerOfTwo: 10)
        case "Mi": return .binary(powerOfTwo: 20)
        case "Gi": return .binary(powerOfTwo: 30)
        case "Ti": return .binary(powerOfTwo: 40)
        case "Pi": return .binary(powerOfTwo: 50)
        case "Ei": return .binary(powerOfTwo: 60)
        default: break
        }
        // <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>, a whole exponent.
        guard let first = suffix.first, first == "e" || first == "E" else {
            throw .unknownSuffix(text, suffix: suffix)
        }
        var rest = Substring(suffix.dropFirst())
        var sign = 1
        if let s = rest.first, s == "+" || s == "-" { sign = s == "-" ? -1 : 1; rest = rest.dropFirst() }
        guard !rest.isEmpty, rest.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw .unknownSuffix(text, suffix: suffix)
        }
        // Anything past a few hundred is either zero or overflows every consumer; cap before Int parses.
        guard rest.count <= 4, let e = Int(rest), e <= 1000 else { throw .exponentOutOfRange(text) }
        return .exponent(powerOfTen: sign * e)
    }

    /// The exact value as numerator / denominator, or nil when either exceeds UInt128.
    private var fraction: (numerator: UInt128, denominator: UInt128)? {
        switch scale {
        case let .binary(k):
            guard let n = digits.multipliedChecked(by: UInt128(1) << k),
                  let d = UInt128.powerOfTen(fractionDigits) else { return nil }
            return (n, d)
        case let .decimal(e), let .exponent(e):
            let net = e - fractionDigits
            if net >= 0 {
                guard let p = UInt128.powerOfTen(net), let n = digits.multipliedChecked(by: p) else { return nil }
                return (n, 1)
            }
            guard let d = UInt128.powerOfTen(-net) else { return nil }
            return (digits, d)
        }
    }

    /// The value as a whole number, exactly: nil when it is negative, has a fraction, or does not
    /// fit in 64 bits. `roundedUp` says whether a fraction was rounded up.
    public func wholeValue(roundingUp: Bool) -> (value: UInt64, roundedUp: Bool)? {
        guard !negative else { return nil }
        if digits == 0 { return (0, false) }
        guard let (n, d) = fraction else {
            // Too large to represent, or a denominator beyond 10^38: then the value is below 1
            // whenever the numerator fit (digits < 10^38), so it rounds up to 1.
            if case let .decimal(e) = scale, e - fractionDigits < 0, roundingUp { return (1, true) }
            if case let .exponent(e) = scale, e - fractionDigits < 0, roundingUp { return (1, true) }
            return nil
        }
        let (q, r) = n.quotientAndRemainder(dividingBy: d)
        if r != 0 && !roundingUp { return nil }
        let whole = r == 0 ? q : q + 1
        guard whole <= UInt128(UInt64.max) else { return nil }
        return (UInt64(whole), r != 0)
    }

    /// Whether the value is too large for 64 bits (as opposed to fractional or negative).
    public var exceedsUInt64: Bool {
        guard !negative, digits != 0 else { return false }
        guard let (n, d) = fraction else {
            switch scale {
            case let .decimal(e), let .exponent(e): return e - fractionDigits >= 0
            case .binary: return true
            }
        }
        return n / d > UInt128(UInt64.max)
    }
}

extension UInt128 {
    static func powerOfTen(_ n: Int) -> UInt128? {
        guard n >= 0, n <= 38 else { return nil }
        var p: UInt128 = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    func multipliedChecked(by other: UInt128) -> UInt128? {
        let (r, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? nil : r
    }
}
