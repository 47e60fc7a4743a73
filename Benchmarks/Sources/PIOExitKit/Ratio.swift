// Interleaved measurement: warm-up, then rounds of one Swift batch and one C batch (the order
// alternates every round, so slow drifts of the host hit both sides alike). Reported figures are
// medians of per-batch nanoseconds per exit.

public struct RatioResult: Sendable {
    public var swiftNsPerExit: [Double] = []
    public var cNsPerExit: [Double] = []

    public var swiftMedian: Double { median(swiftNsPerExit) }
    public var cMedian: Double { median(cNsPerExit) }
    /// Swift median / C median: the figure the issue asks for.
    public var ratio: Double { swiftMedian / cMedian }
    /// Median of the per-round ratios (each round's Swift batch over its own C batch): a cross-check
    /// that is less sensitive to drift over the run.
    public var pairedRatioMedian: Double {
        median(zip(swiftNsPerExit, cNsPerExit).map { $0 / $1 })
    }
}

public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    let i = min(s.count - 1, max(0, Int((p * Double(s.count - 1)).rounded())))
    return s[i]
}

extension PIOExitBench {
    /// Times one batch of `exits` round trips on one side; returns ns per exit.
    public func timeBatch(swift: Bool, exits: Int) throws -> Double {
        let start = monotonicNanoseconds()
        if swift { try runSwift(exits: exits) } else { try runC(exits: exits) }
        let end = monotonicNanoseconds()
        return Double(end - start) / Double(exits)
    }

    /// `warmupRounds` untimed Swift+C rounds, then `rounds` timed ones of `exits` exits per batch.
    public func measureRatio(rounds: Int, exits: Int, warmupRounds: Int = 2,
                             progress: ((Int, Double, Double) -> Void)? = nil) throws -> RatioResult {
        for _ in 0..<warmupRounds {
            _ = try timeBatch(swift: true, exits: exits)
            _ = try timeBatch(swift: false, exits: exits)
        }
        var result = RatioResult()
        for round in 0..<rounds {
            let swiftFirst = round % 2 == 0
            var s = 0.0, c = 0.0
            if swiftFirst {
                s = try timeBatch(swift: true, exits: exits)
                c = try timeBatch(swift: false, exits: exits)
            } else {
                c = try timeBatch(swift: false, exits: exits)
                s = try timeBatch(swift: true, exits: exits)
            }
            result.swiftNsPerExit.append(s)
            result.cNsPerExit.append(c)
            progress?(round, s, c)
        }
        return result
    }
}
