// Prints the VMM's device-side cost per virtio request (no KVM, fake guest memory), e.g.
//   Benchmarks/run.sh virtio-cost
// Best of 5 runs per figure; requests per second are 1e9 / ns per request.
import Glibc
import VirtioBenchKit

func report(_ name: String, batch: Int, rounds: Int, _ bench: (Int) throws -> Void) throws {
    let perRound = try bestNanosecondsPerRound(rounds: rounds, bench)
    let perRequest = perRound / Double(batch)
    let rate = 1e9 / perRequest
    print("\(name), \(batch) per kick: \(Int(perRequest.rounded())) ns/request, \(Int(rate.rounded())) requests/s")
}

do {
    for batch in [1, 32] {
        let blk = try BlockReadBench(batch: batch)
        try blk.run(rounds: 1000)  // warm-up
        try report("virtio-blk 4 KiB read", batch: batch, rounds: 20_000 / batch) { try blk.run(rounds: $0) }
    }
    for (name, direction) in [("virtio-net 1500-byte frame, guest to host", NetFrameBench.Direction.transmit),
                              ("virtio-net 1500-byte frame, host to guest", .receive)] {
        for batch in [1, 32] {
            let net = try NetFrameBench(direction: direction, batch: batch)
            try net.run(rounds: 1000)  // warm-up
            try report(name, batch: batch, rounds: 50_000 / batch) { try net.run(rounds: $0) }
        }
    }
} catch {
    print("virtio-cost: \(error)")
    exit(1)
}
