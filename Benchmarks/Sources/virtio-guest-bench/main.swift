// Guest-driven virtio-blk throughput from a CPL3 guest driver (guests/virtio_blk_bench.c), e.g.
//   Benchmarks/run.sh virtio-guest-bench
// Each run boots the guest once; best of 3 runs per phase.
import Glibc
import VirtioBenchKit

let guest = CommandLine.arguments.dropFirst().first ?? ".build-bench/guests/virtio_blk_bench.elf"
do {
    var best: [GuestBlockPhase] = []
    for _ in 0..<3 {
        let phases = try GuestBlockBench.run(guestPath: guest)
        best = best.isEmpty ? phases : zip(best, phases).map { $0.seconds <= $1.seconds ? $0 : $1 }
    }
    for p in best {
        let mib = (p.mebibytesPerSecond * 10).rounded() / 10
        let busy = Int((p.vmmShare * 100).rounded())
        print("\(p.name): \(Int(p.requestsPerSecond.rounded())) requests/s, \(mib) MiB/s, event-loop thread busy \(busy) % of the time")
    }
} catch {
    print("virtio-guest-bench: \(error)")
    exit(1)
}
