// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Crucible",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "crucible", targets: ["CrucibleCLI"]),
        .executable(name: "crucible-tools", targets: ["CrucibleTools"]),
        .library(name: "TensorIO", targets: ["TensorIO"]),
        .library(name: "MergeEngine", targets: ["MergeEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries from Debian (scripts/bootstrap installs them).
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),

        // Checkpoint I/O: safetensors files, Hugging Face folders, dtype conversions.
        .target(name: "TensorIO"),
        // Counter-based randomness and the numeric kernels shared by merges and sweeps.
        .target(name: "CrucibleMath"),
        // Jobs split into tasks (merges, sweeps, analyses): what any runtime runs.
        .target(name: "JobModel", dependencies: ["TensorIO"]),
        // Merge configs, the method registry, planning and execution.
        .target(name: "MergeEngine", dependencies: ["TensorIO", "CrucibleMath", "JobModel", "Yams"]),
        // The cluster runtime: ZeroMQ sockets, the LZ4 wire codec, coordinator and workers.
        .target(name: "ClusterRuntime", dependencies: ["CZMQ", "CLZ4", "TensorIO", "JobModel", "MergeEngine"]),

        .executableTarget(
            name: "CrucibleCLI",
            dependencies: [
                "TensorIO", "JobModel", "MergeEngine", "ClusterRuntime", "CZMQ", "CLZ4",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "CrucibleTools",
            dependencies: [
                "TensorIO", "CrucibleMath", "ClusterRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "SystemLibrariesTests", dependencies: ["CZMQ", "CLZ4"]),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO"]),
        .testTarget(name: "CrucibleMathTests", dependencies: ["CrucibleMath"]),
        .testTarget(name: "JobModelTests", dependencies: ["JobModel", "TensorIO"]),
        .testTarget(name: "MergeEngineTests", dependencies: ["MergeEngine", "JobModel", "TensorIO"]),
        .testTarget(name: "CrucibleCLITests", dependencies: ["CrucibleCLI", "TensorIO"]),
        .testTarget(name: "ClusterRuntimeTests", dependencies: ["ClusterRuntime", "JobModel", "MergeEngine", "TensorIO", "CrucibleCLI"]),
    ]
)
