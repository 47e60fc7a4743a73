// ordo-one/benchmark form of the device-side virtio cost (see Sources/virtio-cost): one virtio-blk
// 4 KiB read per iteration through the virtio-mmio transport over fake guest memory, no KVM.
import Benchmark
import VirtioBenchKit

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1000,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )
    Benchmark("virtio-blk 4 KiB read, 1 per kick") { benchmark in
        let bench = try BlockReadBench(batch: 1)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try bench.run(rounds: 1) }
    }
}
