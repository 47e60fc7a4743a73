// `vmm run --net`: every malformed value is refused before anything runs, naming the flag and
// what it expected.
import Testing

extension VMMArgumentTests {
    @Test func malformedNetFlagsNameTheFlagAndWhatWasExpected() throws {
        let cases: [(String, String)] = [
            ("mac=52:54:00:12:34:56", "--net: tap=NAME or fd=N is required"),
            ("tap=a,fd=3", "--net: give either tap= or fd= once"),
            ("tap=much-too-long-name", "--net: tap name must be 1...15 bytes"),
            ("fd=-1", "--net: fd must be an open file descriptor number"),
            ("tap=t0,mac=52:54:00:12:34", "--net: mac must be six hex pairs"),
            ("tap=t0,mac=01:00:5e:00:00:01", "--net: mac must be six hex pairs"),
            ("tap=t0,speed=10G", "--net: unknown key 'speed'"),
            ("tap", "--net: expected key=value"),
        ]
        for (value, message) in cases {
            let r = try runVMM(["run", "--kernel", "/x", "--net", value])
            #expect(r.status == 64, "\(value)")
            #expect(r.stderr.contains(message), "\(value): \(r.stderr)")
        }
    }
}
