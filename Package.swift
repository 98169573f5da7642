// swift-tools-version: 6.1
//
// acoustic-edge: an edge agent that listens to machines. See README.md and docs/.
//
// Dependency direction (one way), drawn in docs/architecture.md:
//   Publisher (the `acoustic-edge` executable: argument parsing and wiring)
//     -> Agent                                     (the running agent and every command's work, as a library)
//       -> Pipeline, Capture, MQTTBridge, Operations, Pictures   (the product's moving parts)
//         -> DSP, Separator, Control, Segments     (numeric stages, the command language, segments)
//           -> TensorFormats, AudioFiles, Configuration (file formats and settings)
//             -> C system-library shims (CALSA, CFFTW, CMosquitto, COpenBLAS, CSndfile, CSoxr, CSystemd, CZlib, CCrypto, CPNG)
// Only Agent reads the configuration: it turns `AgentConfig` into each module's own settings.
import Foundation
import PackageDescription

// The numeric kernels (DSP, Separator) are compiled for the CPU that builds them: `make install`
// and the two README commands build on the machine that runs the agent, and AVX2/FMA code is
// about 1.3x faster than the default x86-64 baseline for the separator (bench/separator).
// Set AE_TARGET_CPU to a CPU name (e.g. `x86-64`, `haswell`) to build a binary for other
// machines, or to the empty string for the compiler's default.
let targetCPU = ProcessInfo.processInfo.environment["AE_TARGET_CPU"] ?? "native"
let numericKernels: [SwiftSetting] = targetCPU.isEmpty ? [] : [.unsafeFlags(["-target-cpu", targetCPU])]

let package = Package(
    name: "acoustic-edge",
    products: [
        .executable(name: "acoustic-edge", targets: ["Publisher"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C system libraries from Debian: a module map and a header each, nothing else.
        .systemLibrary(name: "CALSA", pkgConfig: "alsa"),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f"),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto"),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile"),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr"),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto"),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng"),
        // alsa-lib's error messages kept per thread instead of printed (C-variadic: not Swift).
        .target(name: "CALSAShim", dependencies: ["CALSA"]),
        // The separator's run-time questions to the CPU (CPU count, AVX512_BF16): header only.
        .systemLibrary(name: "CCPUInfo"),

        // File formats and settings.
        .target(name: "TensorFormats", dependencies: ["CZlib"]),
        .target(name: "AudioFiles", dependencies: ["CSndfile", "CSoxr"]),
        .target(name: "Configuration", dependencies: ["Yams", "TensorFormats"]),

        // A segment of every microphone, and the one way an audio file becomes microphone
        // samples (capture's file replay and `process` both read files through it).
        .target(name: "Segments", dependencies: ["AudioFiles"]),
        // The agent's command language (JSON commands and replies, the control state machine),
        // spoken over MQTT and the console alike.
        .target(name: "Control"),

        // Numeric stages.
        .target(name: "DSP", dependencies: ["CFFTW"], swiftSettings: numericKernels),
        .target(name: "Separator", dependencies: ["DSP", "COpenBLAS", "CCPUInfo", "TensorFormats"], swiftSettings: numericKernels),

        // Moving parts.
        .target(name: "Capture", dependencies: [
            "CALSA", "CALSAShim", "AudioFiles", "Segments", "TensorFormats",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "MQTTBridge", dependencies: [
            "CMosquitto", "Control", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Pipeline", dependencies: [
            "DSP", "Separator", "Segments", "TensorFormats", "AudioFiles", "CCrypto",
        ]),

        // What the operator of an edge node needs: systemd notification and the watchdog,
        // the Prometheus /metrics endpoint.
        .target(name: "Operations", dependencies: [
            "CSystemd",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Pictures of mel tensors for people: heat maps, a colour scale, PNG (libpng).
        .target(name: "Pictures", dependencies: ["CPNG"]),

        // The agent as a library: the configuration turned into each module's settings, the
        // running agent (its services, state and status), and the work of every subcommand.
        .target(name: "Agent", dependencies: [
            "Pipeline", "Capture", "MQTTBridge", "Operations", "Pictures", "Control", "Segments",
            "Configuration", "TensorFormats", "AudioFiles", "DSP", "Separator",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // The `acoustic-edge` executable: one type per subcommand, argument parsing and wiring.
        .executableTarget(
            name: "Publisher",
            dependencies: [
                "Agent", "Configuration", "Pipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmark of the DSP stages against noisereduce and torchaudio (not a test).
        .executableTarget(name: "dsp-bench", dependencies: ["DSP"], path: "bench/dsp",
                          exclude: ["reference_bench.py"]),
        // Benchmark of the separator against PyTorch (bench/separator/README.md).
        .executableTarget(name: "SeparatorBench", dependencies: ["Separator", "COpenBLAS"],
                          path: "bench/separator/SeparatorBench"),
        // A small MQTTBridge client: the tests kill -9 it to see the last will (docs/mqtt.md).
        .executableTarget(name: "mqtt-probe", dependencies: ["MQTTBridge"], path: "Sources/MQTTProbe"),

        // Tests. ReferenceHarness runs the real Python libraries (noisereduce, torchaudio,
        // demucs, torch) from the project's venv so every stage is compared with them.
        .target(name: "ReferenceHarness", path: "Tests/ReferenceHarness"),
        .testTarget(name: "TensorFormatsTests", dependencies: ["TensorFormats", "ReferenceHarness"]),
        .testTarget(name: "AudioFilesTests", dependencies: ["AudioFiles", "TensorFormats", "ReferenceHarness"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "DSPTests", dependencies: ["DSP", "TensorFormats", "AudioFiles", "ReferenceHarness"]),
        .testTarget(name: "SeparatorTests", dependencies: ["Separator", "TensorFormats", "AudioFiles", "ReferenceHarness"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Segments", "AudioFiles", "Pipeline", "ReferenceHarness"]),
        .testTarget(name: "MQTTBridgeTests", dependencies: ["MQTTBridge", "Control", "TensorFormats", "ReferenceHarness"]),
        .testTarget(name: "ControlTests", dependencies: ["Control"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Configuration", "Control", "MQTTBridge", "Capture", "Pipeline",
                                                       "Segments", "TensorFormats", "ReferenceHarness"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Segments", "TensorFormats", "AudioFiles", "ReferenceHarness"]),
        .testTarget(name: "PublisherTests", dependencies: ["ReferenceHarness", "TensorFormats", "AudioFiles"]),
        .testTarget(name: "OperationsTests", dependencies: ["Operations", "ReferenceHarness"]),
        .testTarget(name: "PicturesTests", dependencies: ["Pictures", "TensorFormats", "ReferenceHarness"]),
    ],
    swiftLanguageModes: [.v6]
)
