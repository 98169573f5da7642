// SeparatorTests: HTDemucs in Swift against demucs 4.1.0 in Python (Tests/reference/
// demucs_reference.py), on small random-initialized models with perturbed weights.
import Foundation
import AudioFiles
import ReferenceHarness
import XCTest
@testable import Separator

func readFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
}

final class SeparatorParityTests: XCTestCase {
    struct Reference {
        var folder: URL
        var sources: [String]
        var length: Int
        var channels: Int
        var layers: [String]
    }

    /// Runs the reference script; returns where it wrote.
    func reference(_ kwargs: String, length: Int? = nil, channels: Int = 1, half: Bool = false,
                   layers: Bool = true, seed: Int = 0) throws -> Reference {
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "separator")
        var args = [folder.path, "--kwargs", kwargs, "--channels", String(channels), "--seed", String(seed)]
        if let length { args += ["--length", String(length)] }
        if half { args.append("--half") }
        if layers { args.append("--layers") }
        let stdout = try ReferenceHarness.python("demucs_reference.py", args)
        let summary = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as! [String: Any]
        return Reference(folder: folder, sources: summary["sources"] as! [String],
                         length: summary["length"] as! Int, channels: channels,
                         layers: summary["layers"] as! [String])
    }

    /// Loads the model, compares every traced layer (first drift named) and the final
    /// separation (per channel and source) with demucs.
    func checkParity(_ kwargs: String, length: Int? = nil, channels: Int = 1, half: Bool = false,
                     maxBatch: Int = 4, tolerance: Double = 1e-3,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try reference(kwargs, length: length, channels: channels, half: half)
        defer { try? FileManager.default.removeItem(at: ref.folder) }
        let separator = try SourceSeparator(modelPath: ref.folder.appendingPathComponent("model.safetensors").path,
                                            maxBatch: maxBatch)
        XCTAssertEqual(separator.sources, ref.sources, file: file, line: line)
        let mix = try readFloats(ref.folder.appendingPathComponent("mix.f32"))
        let input = (0..<channels).map { Array(mix[($0 * ref.length)..<(($0 + 1) * ref.length)]) }

        // Per-layer path: the first layer that drifts is named.
        if !ref.layers.isEmpty {
            let traced = separator.traceLayers(channels: input)
            var byName: [String: [Float]] = [:]
            for t in traced { byName[t.name] = t.values }
            var report: [String] = []
            for name in ref.layers {
                let expected = try readFloats(ref.folder.appendingPathComponent("layers/\(name).f32"))
                guard let got = byName[name] else {
                    XCTFail("layer \(name): not traced by Swift", file: file, line: line)
                    return
                }
                guard got.count == expected.count else {
                    XCTFail("layer \(name): \(got.count) values, demucs has \(expected.count)", file: file, line: line)
                    return
                }
                let err = relativeError(got, expected)
                report.append("\(name) \(String(format: "%.2e", err))")
                if !(err <= tolerance) {
                    XCTFail("layer \(name) drifted: relative error \(err) (layers: \(report.joined(separator: ", ")))",
                            file: file, line: line)
                    return
                }
            }
            print("per-layer relative errors: \(report.joined(separator: ", "))")
        }

        let out = try separator.separate(channels: input)
        let expected = try readFloats(ref.folder.appendingPathComponent("out.f32"))
        let s = ref.sources.count
        var worst = 0.0
        for ch in 0..<channels {
            for src in 0..<s {
                let start = (ch * s + src) * ref.length
                let err = relativeError(out[ch][src], Array(expected[start..<(start + ref.length)]))
                worst = max(worst, err)
                XCTAssertLessThanOrEqual(err, tolerance, "channel \(ch) source \(ref.sources[src])", file: file, line: line)
            }
        }
        print("separation worst relative error per source: \(worst)")
    }

    /// Frequency branch not reaching the merge (transformer on 16 frequency rows), t_layers 5
    /// (self/cross alternation), GroupNorm from layer 2, input = segment; three channels in
    /// batches of at most two (a batch of 2, then 1).
    func testDefaultLikeFiveTransformerLayers() throws {
        try checkParity("""
            {"sources": ["fan", "pump", "valve"], "audio_channels": 1, "channels": 8, "depth": 3,
             "nfft": 512, "samplerate": 8000, "segment": 1, "t_layers": 5, "t_heads": 4, "norm_starts": 2}
            """, channels: 3, maxBatch: 2)
    }

    /// Merged last frequency layer (8 bins -> 1, time branch injected), dconv_mode 3,
    /// bottom_channels, t_layers 1, input shorter than the segment.
    func testMergedLayerDconvBothBottomChannelsShortInput() throws {
        try checkParity("""
            {"sources": ["a", "b"], "audio_channels": 1, "channels": 8, "depth": 3, "nfft": 256,
             "samplerate": 8000, "segment": {"_type": "fraction", "numerator": 1, "denominator": 2},
             "t_layers": 1, "t_heads": 2, "norm_starts": 1, "dconv_mode": 3, "bottom_channels": 16}
            """, length: 3001, channels: 1)
    }

    /// float16 weights, an input 2.6 segments long (split with overlap 0.25, triangular
    /// weights, padded last chunk), two channels.
    func testFloat16WeightsLongInputSplit() throws {
        try checkParity("""
            {"sources": ["fan", "slider"], "audio_channels": 1, "channels": 12, "depth": 2, "nfft": 256,
             "samplerate": 8000, "segment": {"_type": "fraction", "numerator": 1, "denominator": 2},
             "t_layers": 2, "t_heads": 4, "norm_starts": 0, "norm_groups": 2}
            """, length: 10_437, channels: 2, half: true)
    }

    /// A pure time layer after the merge (depth past the frequency axis), no transformer,
    /// encoder context, channels_time, no frequency embedding.
    func testTimeLayerAfterMergeNoTransformer() throws {
        try checkParity("""
            {"sources": ["a", "b", "c", "d"], "audio_channels": 1, "channels": 8, "channels_time": 6,
             "depth": 4, "nfft": 256, "samplerate": 8000, "segment": 1, "t_layers": 0, "context_enc": 1,
             "norm_starts": 3, "freq_emb": 0, "dconv_mode": 2, "dconv_comp": 2}
            """, channels: 1)
    }

    /// Context 2 in the encoder and decoder: 5x5 rewrite convolutions over (F, T) (row taps;
    /// the 3x3 ones of the other configurations run as Winograd) and kernel-5 ones over time.
    func testWideContextRewrites() throws {
        try checkParity("""
            {"sources": ["a", "b"], "audio_channels": 1, "channels": 8, "depth": 3, "nfft": 512,
             "samplerate": 8000, "segment": 1, "t_layers": 1, "t_heads": 2, "context": 2, "context_enc": 2}
            """, channels: 2)
    }

    /// Stereo model and the transformer's other options: cape embedding, cross first,
    /// post-norm, no LayerScale, ReLU, GroupNorm norms.
    func testStereoTransformerOptions() throws {
        try checkParity("""
            {"sources": ["a", "b"], "audio_channels": 2, "channels": 8, "depth": 2, "nfft": 256,
             "samplerate": 8000, "segment": {"_type": "fraction", "numerator": 1, "denominator": 4},
             "t_layers": 3, "t_heads": 2, "t_emb": "cape", "t_cross_first": true, "t_norm_first": false,
             "t_layer_scale": false, "t_gelu": false, "t_group_norm": 1}
            """, channels: 2)
    }
}

/// `SourceSeparator(threads:)`: the thread count governs the separation's threads.
final class SeparatorThreadsTests: XCTestCase {
    /// Process CPU time (user + system), seconds.
    func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
    }

    /// CPU time of the calling thread, seconds.
    func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// `threads: 1` runs on one core: the process's CPU time stays within its wall time and
    /// is the calling thread's own (no helper thread works; a two-thread separator would put
    /// half of it on its helper), on eight channels, which a separator with more threads runs
    /// one per thread; the separation still matches demucs.
    func testOneThreadRunsOnOneCore() throws {
        let channels = 8
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "separator-threads")
        defer { try? FileManager.default.removeItem(at: folder) }
        let summary = try ReferenceHarness.python("demucs_reference.py", [
            folder.path, "--channels", String(channels), "--kwargs", """
            {"sources": ["fan", "pump"], "audio_channels": 1, "channels": 16, "depth": 3, "nfft": 512,
             "samplerate": 8000, "segment": 2, "t_layers": 2, "t_heads": 4}
            """])
        let length = (try JSONSerialization.jsonObject(with: Data(summary.utf8)) as! [String: Any])["length"] as! Int
        let mix = try readFloats(folder.appendingPathComponent("mix.f32"))
        let input = (0..<channels).map { Array(mix[($0 * length)..<(($0 + 1) * length)]) }
        let model = folder.appendingPathComponent("model.safetensors").path

        XCTAssertEqual(try SourceSeparator(modelPath: model, threads: 0).threads, Parallel.cores)
        XCTAssertThrowsError(try SourceSeparator(modelPath: model, threads: -1)) { error in
            XCTAssertEqual(String(describing: error), "threads must be 0 (one per core) or more, got -1")
        }
        let separator = try SourceSeparator(modelPath: model, threads: 1)
        XCTAssertEqual(separator.threads, 1)
        _ = try separator.separate(channels: input)  // warm-up: FFT plans, workspace
        var wall = 0.0, cpu = 0.0, own = 0.0
        var out: [[[Float]]] = []
        for _ in 0..<3 {
            let start = Date(), cpu0 = cpuSeconds(), own0 = threadCPUSeconds()
            out = try separator.separate(channels: input)
            wall += Date().timeIntervalSince(start)
            cpu += cpuSeconds() - cpu0
            own += threadCPUSeconds() - own0
        }
        print("threads 1: \(cpu) s of CPU (\(own) s on the calling thread) in \(wall) s")
        XCTAssertGreaterThan(cpu, 0.2, "long enough to measure")
        XCTAssertLessThanOrEqual(cpu, 1.1 * wall + 0.05, "one thread: CPU time within wall time")
        XCTAssertLessThanOrEqual(cpu - own, 0.05 * cpu + 0.02, "one thread: the work runs on the calling thread")

        let expected = try readFloats(folder.appendingPathComponent("out.f32"))
        for ch in 0..<channels {
            for s in 0..<2 {
                let start = (ch * 2 + s) * length
                XCTAssertLessThanOrEqual(relativeError(out[ch][s], Array(expected[start..<(start + length)])), 1e-3)
            }
        }
    }
}

final class SeparatorLoadingTests: XCTestCase {
    /// A model file whose tensors do not fit its arguments is refused, naming the tensor.
    func testRefusesMismatchedModelFiles() throws {
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "separator-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ReferenceHarness.python("demucs_bad_models.py", [folder.path])
        let cases: [(String, String)] = [
            ("other_class.safetensors", "is not demucs.htdemucs.HTDemucs"),
            ("missing_tensor.safetensors", "missing tensor encoder.0.conv.bias"),
            ("wrong_shape.safetensors", "tensor encoder.1.conv.weight has shape"),
            ("extra_tensor.safetensors", "unexpected tensor"),
            ("not_safetensors.safetensors", "not a safetensors file"),
            ("branches_mismatch.safetensors", "at layer 3 the time branch has 32 steps and the frequency branch 63 frames"),
        ]
        for (name, message) in cases {
            XCTAssertThrowsError(try SourceSeparator(modelPath: folder.appendingPathComponent(name).path), name) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains(message), "\(name): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(name): one line")
            }
        }
        XCTAssertThrowsError(try SourceSeparator(modelPath: folder.appendingPathComponent("absent").path))
    }
}

final class SeparateCommandTests: XCTestCase {
    /// `acoustic-edge separate` on a long two-channel file: OUTDIR/<source>.wav, one channel
    /// per input channel, equal to demucs's apply_model(split=True, overlap=0.25).
    func testSeparateCommandOnLongMultiChannelFile() throws {
        let executable = ReferenceHarness.agentExecutable
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: executable), "acoustic-edge not built")
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "separate-cli")
        defer { try? FileManager.default.removeItem(at: folder) }
        let channels = 3, length = 9_001
        let stdout = try ReferenceHarness.python("demucs_reference.py", [
            folder.path, "--kwargs", """
            {"sources": ["fan", "pump"], "audio_channels": 1, "channels": 8, "depth": 2, "nfft": 256,
             "samplerate": 8000, "segment": {"_type": "fraction", "numerator": 1, "denominator": 2},
             "t_layers": 2, "t_heads": 2}
            """, "--length", String(length), "--channels", String(channels)])
        XCTAssertTrue(stdout.contains("\"split\": true"))
        let mix = try readFloats(folder.appendingPathComponent("mix.f32"))
        let input = AudioBuffer(sampleRate: 8000, channelData: (0..<channels).map {
            Array(mix[($0 * length)..<(($0 + 1) * length)])
        })
        let wav = folder.appendingPathComponent("mix.wav").path
        try AudioFile.write(input, to: wav)
        let outdir = folder.appendingPathComponent("parts").path
        try ReferenceHarness.run(executable, ["separate", "--model", folder.appendingPathComponent("model.safetensors").path,
                                              wav, outdir])
        let expected = try readFloats(folder.appendingPathComponent("out.f32"))
        for (s, source) in ["fan", "pump"].enumerated() {
            let part = try AudioFile.read(path: outdir + "/\(source).wav")
            XCTAssertEqual(part.channels, channels)
            XCTAssertEqual(part.sampleRate, 8000)
            XCTAssertEqual(part.frames, length)
            for ch in 0..<channels {
                let start = (ch * 2 + s) * length
                let err = relativeError(part.channel(ch), Array(expected[start..<(start + length)]))
                XCTAssertLessThanOrEqual(err, 1e-3, "\(source) channel \(ch)")
            }
        }
    }

    /// A model file that does not fit: exit status 1, one line naming the problem, no output.
    func testSeparateCommandRefusesBadModel() throws {
        let executable = ReferenceHarness.agentExecutable
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: executable), "acoustic-edge not built")
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "separate-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ReferenceHarness.python("demucs_bad_models.py", [folder.path])
        let wav = folder.appendingPathComponent("in.wav").path
        try AudioFile.write(AudioBuffer(sampleRate: 8000, channelData: [[Float](repeating: 0.1, count: 800)]), to: wav)
        let outdir = folder.appendingPathComponent("parts").path
        let result = try ReferenceHarness.runCapturing(executable, [
            "separate", "--model", folder.appendingPathComponent("wrong_shape.safetensors").path, wav, outdir])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("encoder.1.conv.weight"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outdir))
    }
}

/// Runs `body` with the kernels it calls split over two workers (as a two-thread separator
/// runs them), so the tests cover the work splits whatever the machine's core count.
func onTwoWorkers<R>(_ body: () throws -> R) rethrows -> R {
    try Parallel.using(Parallel.pool(threads: 2), body)
}

/// One run of Tests/reference/conv_reference.py: PyTorch's convolution `op` on random data.
struct ConvolutionReference {
    let x: [Float], weight: [Float], bias: [Float]
    /// The convolution's output, its GLU over channels, its exact GELU (PyTorch layout).
    let out: [Float], glu: [Float], gelu: [Float]

    init(op: String, batch: Int, cin: Int, cout: Int, height: Int, width: Int, stride: Int = 4, pad: Int = 2,
         padRight: Int = 0) throws {
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "conv")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ReferenceHarness.python("conv_reference.py", [
            folder.path, "--op", op, "--batch", String(batch), "--cin", String(cin), "--cout", String(cout),
            "--height", String(height), "--width", String(width), "--stride", String(stride), "--pad", String(pad),
            "--pad-right", String(padRight)])
        func load(_ name: String) throws -> [Float] { try readFloats(folder.appendingPathComponent(name + ".f32")) }
        (x, weight, bias) = (try load("x"), try load("weight"), try load("bias"))
        (out, glu, gelu) = (try load("out"), try load("glu"), try load("gelu"))
    }

    /// `x` as a channel-major activation `[Cin, B, H, W]`.
    func input(_ workspace: Workspace, cin: Int, batch: Int, height: Int, width: Int) -> Activation {
        let input = Activation(c: cin, b: batch, f: height, t: width, workspace: workspace)
        let plane = height * width
        for item in 0..<batch {
            for ch in 0..<cin {
                for k in 0..<plane { input.at(ch, item)[k] = x[(item * cin + ch) * plane + k] }
            }
        }
        return input
    }

    /// Compares `got` (PyTorch layout) with `expected`, printing the error under `label`.
    static func check(_ got: [Float], _ expected: [Float], tolerance: Double, _ label: String,
                      file: StaticString, line: UInt) {
        XCTAssertEqual(got.count, expected.count, label, file: file, line: line)
        let err = relativeError(got, expected)
        print("\(label): relative error \(err)")
        XCTAssertLessThanOrEqual(err, tolerance, label, file: file, line: line)
    }
}

/// The Winograd kernels against PyTorch: F(2x2, 3x3) and F(4x4, 3x3) against conv2d, F(m, 3)
/// over time against conv1d; heights and widths that leave partial last tiles, two batch
/// items, both epilogues, and tile-row counts that split into several blocks.
final class WinogradTests: XCTestCase {
    func check(batch: Int, cin: Int, cout: Int, height: Int, width: Int, dims: Int = 2,
               file: StaticString = #filePath, line: UInt = #line) throws {
        precondition(dims == 2 || height == 1, "a 1-D convolution has one row")
        let ref = try ConvolutionReference(op: dims == 2 ? "conv3x3" : "conv1d", batch: batch, cin: cin, cout: cout,
                                           height: height, width: width)
        let input = ref.input(Workspace(), cin: cin, batch: batch, height: height, width: width)
        for (tile, tolerance) in [(2, 1e-6), (4, 1e-5)] {
            let w = ref.weight.withUnsafeBufferPointer {
                WinogradWeights(weight: $0.baseAddress!, cout: cout, cin: cin, tile: tile, dims: dims)
            }
            ref.bias.withUnsafeBufferPointer { b in
                for (epilogue, expected, name) in [(ConvEpilogue.none, ref.out, "out"), (.glu, ref.glu, "glu")] {
                    let result = onTwoWorkers {
                        dims == 2
                            ? Kernels.winogradConv(input, w, bias: b.baseAddress, epilogue: epilogue)
                            : Kernels.winogradConv1D(input, w, bias: b.baseAddress, epilogue: epilogue)
                    }
                    ConvolutionReference.check(result.torchLayout(), expected, tolerance: tolerance,
                                               "F(\(tile)) \(dims)-D \(batch)x\(cin)->\(cout) \(height)x\(width) \(name)",
                                               file: file, line: line)
                }
            }
        }
    }

    func testOddSizesTwoItems() throws {
        try check(batch: 2, cin: 5, cout: 6, height: 7, width: 19)
    }

    func testManyTileRowsOneItem() throws {
        try check(batch: 1, cin: 48, cout: 96, height: 66, width: 157)
    }

    func testSingleRowAndColumn() throws {
        try check(batch: 1, cin: 3, cout: 4, height: 1, width: 1)
    }

    /// F(m, 3) over time: a sequence that leaves a partial last tile and splits into several
    /// blocks, two items; and a sequence shorter than one tile.
    func testOneDimensional() throws {
        try check(batch: 2, cin: 7, cout: 10, height: 1, width: 2_503, dims: 1)
        try check(batch: 1, cin: 3, cout: 4, height: 1, width: 3, dims: 1)
    }
}

/// The polyphase F(3, 2) kernels against PyTorch: the encoder's strided convolution against
/// conv2d (kernel (2s, 1), stride (s, 1)), the decoder's transposed convolution against
/// conv_transpose2d and its crop; output row counts that leave partial last tiles, several
/// blocks, two batch items, with and without GELU.
final class PolyphaseTests: XCTestCase {
    func checkStrided(batch: Int, cin: Int, cout: Int, height: Int, width: Int, stride: Int, pad: Int,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try ConvolutionReference(op: "strided", batch: batch, cin: cin, cout: cout, height: height,
                                           width: width, stride: stride, pad: pad)
        let input = ref.input(Workspace(), cin: cin, batch: batch, height: height, width: width)
        let w = ref.weight.withUnsafeBufferPointer {
            PolyphaseWeights(weight: $0.baseAddress!, cout: cout, cin: cin, stride: stride)
        }
        ref.bias.withUnsafeBufferPointer { b in
            for (epilogue, expected, name) in [(ConvEpilogue.none, ref.out, "out"), (.gelu, ref.gelu, "gelu")] {
                let got = onTwoWorkers { Kernels.polyphaseConv(input, w, bias: b.baseAddress, pad: pad, epilogue: epilogue) }
                ConvolutionReference.check(got.torchLayout(), expected, tolerance: 1e-6,
                                           "strided \(batch)x\(cin)->\(cout) \(height)x\(width) s\(stride) p\(pad) \(name)",
                                           file: file, line: line)
            }
        }
    }

    func checkTransposed(batch: Int, cin: Int, cout: Int, height: Int, width: Int, stride: Int, pad: Int,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try ConvolutionReference(op: "transposed", batch: batch, cin: cin, cout: cout, height: height,
                                           width: width, stride: stride, pad: pad)
        let input = ref.input(Workspace(), cin: cin, batch: batch, height: height, width: width)
        let w = ref.weight.withUnsafeBufferPointer {
            PolyphaseWeights(transposedWeight: $0.baseAddress!, cin: cin, cout: cout, stride: stride)
        }
        let keep = (height + 1) * stride - 2 * pad
        ref.bias.withUnsafeBufferPointer { b in
            for (gelu, expected, name) in [(false, ref.out, "out"), (true, ref.gelu, "gelu")] {
                let got = onTwoWorkers {
                    Kernels.polyphaseConvTranspose(input, w, bias: b.baseAddress, pad: pad, keep: keep, gelu: gelu)
                }
                ConvolutionReference.check(got.torchLayout(), expected, tolerance: 1e-6,
                                           "transposed \(batch)x\(cin)->\(cout) \(height)x\(width) s\(stride) p\(pad) \(name)",
                                           file: file, line: line)
            }
        }
    }

    func testStridedConvolution() throws {
        try checkStrided(batch: 2, cin: 5, cout: 6, height: 44, width: 13, stride: 4, pad: 2)   // 11 rows: partial tile
        try checkStrided(batch: 1, cin: 48, cout: 96, height: 512, width: 157, stride: 4, pad: 2)  // several blocks
        try checkStrided(batch: 1, cin: 3, cout: 4, height: 8, width: 5, stride: 4, pad: 0)    // the last layer: one row
        // Three blocks of one tile: on two workers each block's output channels are split (95: unevenly).
        try checkStrided(batch: 1, cin: 48, cout: 95, height: 36, width: 300, stride: 4, pad: 2)
    }

    func testTransposedConvolution() throws {
        try checkTransposed(batch: 2, cin: 6, cout: 5, height: 11, width: 13, stride: 4, pad: 2)
        try checkTransposed(batch: 1, cin: 96, cout: 48, height: 128, width: 157, stride: 4, pad: 2)
        try checkTransposed(batch: 1, cin: 4, cout: 3, height: 1, width: 5, stride: 4, pad: 0)
        try checkTransposed(batch: 1, cin: 96, cout: 47, height: 8, width: 300, stride: 4, pad: 2)  // three blocks
    }

    /// The time branch's strided convolution (kernel 2s, stride s over T) on the input's phases
    /// (`Kernels.convOverTimeByPhase`) against conv1d: stride 4 (SIMD phase split) with the
    /// right padding demucs adds for lengths that are not a multiple of the stride, two items
    /// and several tiles; stride 2 and 3 (scalar split); an input shorter than one SIMD step.
    func testStridedConvolutionOverTime() throws {
        for (batch, cin, cout, width, stride, pad, padRight) in [(2, 7, 12, 4_098, 4, 2, 2), (1, 5, 3, 37, 2, 1, 1),
                                                                 (2, 4, 6, 30, 3, 1, 0), (1, 3, 4, 40, 4, 2, 0)] {
            let ref = try ConvolutionReference(op: "strided_time", batch: batch, cin: cin, cout: cout, height: 1,
                                               width: width, stride: stride, pad: pad, padRight: padRight)
            let input = ref.input(Workspace(), cin: cin, batch: batch, height: 1, width: width)
            let w = ref.weight.withUnsafeBufferPointer {
                TimePhaseWeights(weight: $0.baseAddress!, cout: cout, cin: cin, stride: stride)
            }
            ref.bias.withUnsafeBufferPointer { b in
                for (epilogue, expected, name) in [(ConvEpilogue.none, ref.out, "out"), (.gelu, ref.gelu, "gelu")] {
                    let got = onTwoWorkers {
                        Kernels.convOverTimeByPhase(input, w, bias: b.baseAddress, pad: pad, padRight: padRight,
                                                    epilogue: epilogue)
                    }
                    ConvolutionReference.check(got.torchLayout(), expected, tolerance: 1e-6,
                                               "strided over time \(batch)x\(cin)->\(cout) \(width) s\(stride) p\(pad)+\(padRight) \(name)",
                                               file: #filePath, line: #line)
                }
            }
        }
    }

    /// The time branch's transposed convolution (kernel 2s, stride s over T), written phase by
    /// phase (`Kernels.convTransposeByPhase`) against conv_transpose1d and its crop: stride 4
    /// (vectorized) over several runs of inputs and two items, stride 2 and 3 (scalar), no crop.
    func testTransposedConvolutionOverTime() throws {
        for (batch, cin, cout, width, stride, pad) in [(2, 7, 96, 1_500, 4, 2), (1, 5, 3, 37, 2, 1),
                                                       (2, 4, 6, 29, 3, 0), (1, 48, 4, 333, 4, 0)] {
            let ref = try ConvolutionReference(op: "transposed_time", batch: batch, cin: cin, cout: cout, height: 1,
                                               width: width, stride: stride, pad: pad)
            let input = ref.input(Workspace(), cin: cin, batch: batch, height: 1, width: width)
            var g = ConvGeometry()
            g.kw = 2 * stride
            g.sw = stride
            let full = (width + 1) * stride
            ref.weight.withUnsafeBufferPointer { w in
                ref.bias.withUnsafeBufferPointer { b in
                    for (gelu, expected, name) in [(false, ref.out, "out"), (true, ref.gelu, "gelu")] {
                        let got = onTwoWorkers {
                            Kernels.convTranspose(input, weight: w.baseAddress!, bias: b.baseAddress, cout: cout, g,
                                                  hKeep: 0..<1, wKeep: pad..<(full - pad), gelu: gelu)
                        }
                        ConvolutionReference.check(got.torchLayout(), expected, tolerance: 1e-6,
                                                   "transposed over time \(batch)x\(cin)->\(cout) \(width) s\(stride) p\(pad) \(name)",
                                                   file: #filePath, line: #line)
                    }
                }
            }
        }
    }
}
