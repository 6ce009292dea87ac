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
        .library(name: "ModelHub", targets: ["ModelHub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries from Debian (scripts/bootstrap installs them).
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Loops in F16C and AVX2, each function compiled for its extensions alone, used only where
        // the CPU has them (crucible_use_*): one binary for any x86-64.
        .target(name: "CVectorKernels"),
        // Checkpoint I/O: safetensors files, Hugging Face folders, dtype conversions.
        .target(name: "TensorIO", dependencies: ["CVectorKernels"]),
        // Hugging Face tokenizer.json encoding (BPE, byte-level and SentencePiece style), for evaluation.
        .target(name: "Tokenizer", dependencies: ["TensorIO"]),
        // Counter-based randomness and the numeric kernels shared by merges and sweeps.
        .target(name: "CrucibleMath", dependencies: ["CVectorKernels"]),
        // Jobs split into tasks (merges, sweeps, analyses): what any runtime runs.
        .target(name: "JobModel", dependencies: ["TensorIO"]),
        // Config YAML composed with bounded alias expansion (libyaml events through Yams' CYaml).
        .target(name: "ConfigYAML", dependencies: ["Yams"]),
        // Merge configs, the method registry, planning and execution.
        .target(name: "MergeEngine", dependencies: ["CVectorKernels", "TensorIO", "CrucibleMath", "JobModel", "ConfigYAML", "Yams", "Evaluator"]),
        // Noise-sensitivity sweeps: perturbed variants of checkpoints, evaluated and plotted.
        .target(name: "SweepEngine", dependencies: ["TensorIO", "CrucibleMath", "JobModel", "ConfigYAML", "Yams", "Evaluator"]),
        // Delta statistics of fine-tuned models against their base (`crucible analyze`), as a job.
        .target(name: "DeltaAnalysis", dependencies: ["TensorIO", "JobModel", "CrucibleMath"]),
        // Models from the Hugging Face Hub: its cache layout, resumable verified downloads.
        .target(
            name: "ModelHub",
            dependencies: [
                "TensorIO",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // The wire codec: plane shuffle + LZ4 payloads with checksums (pure computation).
        .target(name: "WireCodec", dependencies: ["CLZ4", "TensorIO"]),
        // The cluster runtime: ZeroMQ sockets, coordinator and workers, for any job kind.
        .target(name: "ClusterRuntime", dependencies: ["CZMQ", "TensorIO", "JobModel", "WireCodec"]),
        // Native forward pass for scoring (`crucible eval`): architectures as data, streamed layers, BLAS.
        .target(name: "Evaluator", dependencies: ["COpenBLAS", "TensorIO", "JobModel"]),

        .executableTarget(
            name: "CrucibleCLI",
            dependencies: [
                "TensorIO", "JobModel", "MergeEngine", "SweepEngine", "DeltaAnalysis", "ClusterRuntime", "WireCodec", "ModelHub", "Evaluator", "Tokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "CrucibleTools",
            dependencies: [
                "TensorIO", "CrucibleMath", "WireCodec", "CLZ4",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Helpers shared by the test targets (running processes and the built binary, small
        // checkpoints, fixture paths). Part of no product; nothing but the tests link it.
        .target(name: "TestSupport", dependencies: ["TensorIO"], path: "Tests/TestSupport"),

        .testTarget(name: "SystemLibrariesTests", dependencies: ["CZMQ", "CLZ4"]),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "CVectorKernels", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TensorIO", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CrucibleMathTests", dependencies: ["CrucibleMath", "CVectorKernels", "TestSupport"]),
        .testTarget(name: "JobModelTests", dependencies: ["JobModel", "TensorIO", "TestSupport"]),
        .testTarget(name: "MergeEngineTests", dependencies: ["MergeEngine", "JobModel", "TensorIO", "TestSupport"],
                    exclude: ["Support/render_chat_templates.py", "Fixtures"]),
        .testTarget(name: "SweepEngineTests", dependencies: ["SweepEngine", "Evaluator", "JobModel", "TensorIO", "CrucibleMath", "TestSupport"], exclude: ["Support/compare_renders.py"]),
        .testTarget(name: "DeltaAnalysisTests", dependencies: ["DeltaAnalysis", "JobModel", "TensorIO", "TestSupport"], exclude: ["Support/analyze_reference.py"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub", "MergeEngine", "TensorIO", "TestSupport"], exclude: ["Support/hub_server.py"]),
        .testTarget(name: "EvaluatorTests", dependencies: ["Evaluator", "TensorIO", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CrucibleCLITests", dependencies: ["CrucibleCLI", "ClusterRuntime", "TensorIO", "TestSupport"]),
        .testTarget(name: "WireCodecTests", dependencies: ["WireCodec", "TensorIO", "TestSupport"]),
        .testTarget(name: "ClusterRuntimeTests", dependencies: ["ClusterRuntime", "WireCodec", "JobModel", "MergeEngine", "TensorIO", "CrucibleCLI", "TestSupport"],
                    exclude: ["Support/python_worker.py"]),
    ]
)
