// ordo-one/benchmark form of the port-I/O exit benchmark: one port-I/O exit round trip per
// iteration, through `VCPU.run()` ("swift") and through the C KVM_RUN loop ("c"), on the same vCPU.
// The ratio itself is printed by the `pio-exit-ratio` executable (see README.md), which interleaves
// the two sides; here each side is measured in its own benchmark, as the framework does.
// Guest: PIO_EXIT_GUEST, or .build-bench/guests/pio_loop_cpl3.elf (built by Benchmarks/run.sh).
import Benchmark
import Glibc
import PIOExitKit

let benchmarks: @Sendable () -> Void = {
    let path = getenv("PIO_EXIT_GUEST").map { String(cString: $0) } ?? PIOExitBench.defaultGuestPath
    let bench: PIOExitBench
    do { bench = try PIOExitBench(guestPath: path) } catch {
        fatalError("PIOExit: \(error)")
    }
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock],
        timeUnits: .microseconds,
        warmupIterations: 200,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
    Benchmark("pio-exit round trip (swift VCPU.run)") { benchmark in
        for _ in benchmark.scaledIterations { try bench.runSwift(exits: 1) }
    }
    Benchmark("pio-exit round trip (c KVM_RUN loop)") { benchmark in
        for _ in benchmark.scaledIterations { try bench.runC(exits: 1) }
    }
}
