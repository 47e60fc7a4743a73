// swift-tools-version: 6.2
// Benchmarks for swift-vmm, kept out of the main package so that its build never compiles benchmark
// dependencies. Depends on the main package by path.
//   pio-exit-ratio  plain executable: Swift VCPU.run() vs a C KVM_RUN loop, prints the ratio (run.sh)
//   PIOExit         the same two loops as ordo-one/benchmark benchmarks (`swift package benchmark`)
//   virtio-cost     the device side's cost per virtio request over fake guest memory (no KVM)
//   VirtioQueue     the same through ordo-one/benchmark
//   virtio-guest-bench  guest-driven virtio-blk throughput from a CPL3 driver on a real MicroVM
// See README.md.
import PackageDescription

let package = Package(
    name: "swift-vmm-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-vmm", path: ".."),
        // Default traits off: the MallocInterposer / RuntimeInterposer traits pull in packages that are
        // not needed for wall-clock figures (and swift-runtime-interposer is not mirrored offline).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: []),
    ],
    targets: [
        // The C baseline loop (KVM_RUN + exit parsing in plain C).
        .target(name: "CPIOLoop", cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "PIOExitKit",
            dependencies: [
                "CPIOLoop",
                .product(name: "KVMCore", package: "swift-vmm"),
                .product(name: "GuestMemory", package: "swift-vmm"),
                .product(name: "BootLoader", package: "swift-vmm"),
                .product(name: "Machine", package: "swift-vmm"),
            ]
        ),
        .executableTarget(name: "pio-exit-ratio", dependencies: ["PIOExitKit"]),
        .target(
            name: "VirtioBenchKit",
            dependencies: [
                .product(name: "GuestMemory", package: "swift-vmm"),
                .product(name: "VirtioDevices", package: "swift-vmm"),
                .product(name: "Machine", package: "swift-vmm"),
            ]
        ),
        .executableTarget(name: "virtio-cost", dependencies: ["VirtioBenchKit"]),
        .executableTarget(name: "virtio-guest-bench", dependencies: ["VirtioBenchKit"]),
        .executableTarget(
            name: "VirtioQueue",
            dependencies: ["VirtioBenchKit", .product(name: "Benchmark", package: "benchmark")],
            path: "VirtioQueue",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PIOExit",
            dependencies: ["PIOExitKit", .product(name: "Benchmark", package: "benchmark")],
            path: "PIOExit",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
