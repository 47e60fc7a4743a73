// Kubernetes quantities: exact values for every suffix, and the errors for what is not a quantity.
@testable import PodIntegration
import Testing

@Suite struct QuantityTests {
    static let exact: [(String, UInt64)] = [
        ("0", 0), ("1", 1), ("128Mi", 128 << 20), ("1Gi", 1 << 30), ("1.5Gi", 1_610_612_736),
        ("0.5Ki", 512), ("2Ti", 2 << 40), ("1Pi", 1 << 50), ("1Ei", 1 << 60), ("15Ei", 15 << 60),
        ("1024M", 1_024_000_000), ("1k", 1000), ("2G", 2_000_000_000), ("3T", 3_000_000_000_000),
        ("1P", 1_000_000_000_000_000), ("1E", 1_000_000_000_000_000_000), ("1e9", 1_000_000_000),
        ("5E3", 5000), ("1.5e3", 1500), ("12e+2", 1200), ("4096", 4096), ("+64Mi", 64 << 20),
        ("1.000Gi", 1 << 30), (".5Ki", 512), ("2.Ki", 2048), ("1500m", 2),
        ("0000000000000000000000000000000000000000001Mi", 1 << 20),
        ("18446744073709551615", UInt64.max),
    ]

    @Test(arguments: exact)
    func exactValues(text: String, value: UInt64) throws {
        let q = try Quantity(parsing: text)
        // 1500m is the one fractional case here: exact fails, rounding up gives 2.
        if text == "1500m" {
            #expect(q.wholeValue(roundingUp: false) == nil)
            #expect(q.wholeValue(roundingUp: true)?.value == 2)
            #expect(q.wholeValue(roundingUp: true)?.roundedUp == true)
        } else {
            #expect(q.wholeValue(roundingUp: false)?.value == value, "\(text)")
            #expect(q.wholeValue(roundingUp: false)?.roundedUp == false)
        }
    }

    @Test func fractionsAndMilli() throws {
        #expect(try Quantity(parsing: "500m").isMilli)
        #expect(try Quantity(parsing: "500m").wholeValue(roundingUp: true)?.value == 1)
        #expect(try Quantity(parsing: "1.3Ki").wholeValue(roundingUp: false) == nil)  // 1331.2
        #expect(try Quantity(parsing: "1e-3").wholeValue(roundingUp: true)?.value == 1)
        #expect(try Quantity(parsing: "1e-999").wholeValue(roundingUp: true)?.value == 1)
        #expect(try Quantity(parsing: "0.0m").wholeValue(roundingUp: false)?.value == 0)
        #expect(try Quantity(parsing: "-1Gi").negative)
        #expect(try Quantity(parsing: "-1Gi").wholeValue(roundingUp: true) == nil)
        #expect(try !Quantity(parsing: "-0").negative)
    }

    @Test func tooLarge() throws {
        #expect(try Quantity(parsing: "16Ei").exceedsUInt64)
        #expect(try Quantity(parsing: "18446744073709551616").exceedsUInt64)
        #expect(try Quantity(parsing: "1e999").exceedsUInt64)
        #expect(try Quantity(parsing: "16Ei").wholeValue(roundingUp: true) == nil)
        #expect(try !Quantity(parsing: "15Ei").exceedsUInt64)
    }

    static let malformed: [(String, QuantityError)] = [
        ("", .empty),
        ("Mi", .malformed("Mi")),
        (".", .malformed(".")),
        ("-", .malformed("-")),
        (" 1Gi", .malformed(" 1Gi")),
        ("1Gi ", .unknownSuffix("1Gi ", suffix: "Gi ")),
        ("1GB", .unknownSuffix("1GB", suffix: "GB")),
        ("1gi", .unknownSuffix("1gi", suffix: "gi")),
        ("1.2.3", .unknownSuffix("1.2.3", suffix: ".3")),
        ("1e", .unknownSuffix("1e", suffix: "e")),
        ("1e1.5", .unknownSuffix("1e1.5", suffix: "e1.5")),
        ("1Ki1", .unknownSuffix("1Ki1", suffix: "Ki1")),
        ("lots", .malformed("lots")),
        ("1e99999", .exponentOutOfRange("1e99999")),
        ("123456789012345678901234567890123456789", .tooManyDigits("123456789012345678901234567890123456789")),
    ]

    @Test(arguments: malformed)
    func malformedIsRefused(text: String, error: QuantityError) {
        #expect(throws: error) { try Quantity(parsing: text) }
    }

    @Test func errorMessagesQuoteTheInputAndSayWhatIsAccepted() {
        let e = QuantityError.unknownSuffix("1GB", suffix: "GB")
        #expect(e.description.contains("'1GB'"))
        #expect(e.description.contains("Ki Mi Gi"))
    }
}
