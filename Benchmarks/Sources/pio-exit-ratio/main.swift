// pio-exit-ratio: the round trip of a port-I/O exit from a CPL3 guest loop through `VCPU.run()` and
// back, against the same loop written in C, interleaved in one process. Prints one line:
//   pio-exit round trip: swift 34.1 µs, c 33.9 µs, ratio 1.006 (target ≤ 1.05)
// Usage: pio-exit-ratio [--guest PATH] [--rounds R] [--exits N] [--warmup W] [--verbose] [--enforce]
//   --enforce: exit status 1 when the ratio is above the target (default: always 0 on success).
import Glibc
import PIOExitKit

let target = 1.05
var guest = PIOExitBench.defaultGuestPath
var rounds = 101
var exits = 500
var warmup = 2
var verbose = false
var enforce = false

func fail(_ message: String) -> Never {
    let line = "pio-exit-ratio: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

var args = CommandLine.arguments.dropFirst()
@MainActor func value(_ flag: String) -> String {
    guard let v = args.popFirst() else { fail("\(flag) needs a value") }
    return v
}
@MainActor func positive(_ flag: String) -> Int {
    let v = value(flag)
    guard let n = Int(v), n > 0 else { fail("\(flag): expected a positive integer, got \(v)") }
    return n
}
while let a = args.popFirst() {
    switch a {
    case "--guest": guest = value(a)
    case "--rounds": rounds = positive(a)
    case "--exits": exits = positive(a)
    case "--warmup":
        let v = value(a)
        guard let n = Int(v), n >= 0 else { fail("--warmup: expected a non-negative integer, got \(v)") }
        warmup = n
    case "--verbose", "-v": verbose = true
    case "--enforce": enforce = true
    case "--help", "-h":
        print("usage: pio-exit-ratio [--guest PATH] [--rounds R (101)] [--exits N per batch (500)] [--warmup W (2)] [--verbose] [--enforce]")
        exit(0)
    default: fail("unknown argument \(a) (see --help)")
    }
}

func us(_ ns: Double) -> String { fixed(ns / 1000, 1) + " µs" }
/// `x` with exactly `digits` decimals (no Foundation).
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var p = 1
    for _ in 0..<digits { p *= 10 }
    let n = Int((x * Double(p)).rounded())
    guard digits > 0 else { return "\(n)" }
    let sign = n < 0 ? "-" : ""
    let frac = String(abs(n) % p)
    return "\(sign)\(abs(n) / p)." + String(repeating: "0", count: digits - frac.count) + frac
}

do {
    let bench = try PIOExitBench(guestPath: guest)
    if verbose {
        print("guest \(guest); \(rounds) rounds × (swift \(exits) + c \(exits) exits), \(warmup) warm-up rounds")
    }
    let result = try bench.measureRatio(rounds: rounds, exits: exits, warmupRounds: warmup) { round, s, c in
        if verbose { print("round \(round): swift \(fixed(s, 0)) ns/exit, c \(fixed(c, 0)) ns/exit, ratio \(fixed(s / c, 3))") }
    }
    let ratio = result.ratio
    if verbose {
        print("swift ns/exit p10 \(fixed(percentile(result.swiftNsPerExit, 0.1), 0)) p90 \(fixed(percentile(result.swiftNsPerExit, 0.9), 0)); "
            + "c ns/exit p10 \(fixed(percentile(result.cNsPerExit, 0.1), 0)) p90 \(fixed(percentile(result.cNsPerExit, 0.9), 0)); "
            + "median of per-round ratios \(fixed(result.pairedRatioMedian, 3)); \(bench.exitsHandled) exits checked")
    }
    let verdict = ratio <= target ? "" : " ABOVE TARGET"
    print("pio-exit round trip: swift \(us(result.swiftMedian)), c \(us(result.cMedian)), ratio \(fixed(ratio, 3)) (target ≤ \(target))\(verdict)")
    if enforce && ratio > target { exit(1) }
} catch {
    fail("\(error)")
}
