// swift-tools-version: 6.2
// The Swift virtualization stack: KVM library, guest memory, devices, loaders, a whole-machine
// library and the `vmm` binary. Dependencies point one way (see docs/architecture.md):
// GuestMemory is a leaf; VirtioDevices and BootLoader see guest memory only, never KVM.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "swift-vmm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KVMCore", targets: ["KVMCore"]),
        .library(name: "GuestMemory", targets: ["GuestMemory"]),
        .library(name: "BootLoader", targets: ["BootLoader"]),
        .library(name: "VirtioDevices", targets: ["VirtioDevices"]),
        .library(name: "Machine", targets: ["Machine"]),
        .library(name: "PodIntegration", targets: ["PodIntegration"]),
        .executable(name: "vmm", targets: ["vmm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        // 5.1 had the API we use; the mirror this project builds from only carries 5.0.1 and 6.x.
        .package(url: "https://github.com/jpsim/Yams", "5.1.0"..<"7.0.0"),
    ],
    targets: [
        // C only: ioctl numbers as constants, fixed-arity ioctl wrappers, flexible-array helpers.
        .target(name: "CKVM"),
        .target(
            name: "GuestMemory",
            dependencies: [
                "CKVM",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strict + [.strictMemorySafety()]
        ),
        .target(
            name: "KVMCore",
            dependencies: [
                "CKVM", "GuestMemory",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .target(name: "VirtioDevices", dependencies: ["GuestMemory", "CKVM"], swiftSettings: strict),
        .target(name: "BootLoader", dependencies: ["GuestMemory"], swiftSettings: strict),
        .target(
            name: "Machine",
            dependencies: [
                "CKVM", "KVMCore", "GuestMemory", "VirtioDevices", "BootLoader",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Yams parses the VMI (YAML or JSON, which is YAML); only the launcher library depends on it.
        .target(
            name: "PodIntegration",
            dependencies: [
                "Machine", "CKVM", "VirtioDevices", .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vmm",
            dependencies: [
                "Machine", "PodIntegration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport",
                swiftSettings: strict),
        .testTarget(name: "GuestMemoryTests", dependencies: ["GuestMemory"], swiftSettings: strict),
        .testTarget(name: "KVMCoreTests", dependencies: ["KVMCore", "GuestMemory", "BootLoader", "Machine", "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "BootLoaderTests", dependencies: ["BootLoader", "GuestMemory", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "VirtioDevicesTests", dependencies: ["VirtioDevices", "GuestMemory"], swiftSettings: strict),
        .testTarget(name: "MachineTests", dependencies: ["Machine", "KVMCore", "BootLoader", "GuestMemory", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PodIntegrationTests", dependencies: ["PodIntegration", "Machine", .product(name: "Yams", package: "Yams")],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
