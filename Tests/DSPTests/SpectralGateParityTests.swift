import DSP
import Foundation
import ReferenceHarness
import XCTest

/// The denoise stage against noisereduce 3.0.3 run on the same input (Tests/reference/denoise_reference.py).
final class SpectralGateParityTests: XCTestCase {
    struct Case {
        var name: String
        var rate: Int
        var signal: [[Float]]
        var noise: [[Float]]?
        var stationary: Bool
        var parameters = SpectralGateParameters()
        /// reduce_noise keyword arguments matching `parameters` where they differ from the defaults.
        var python: [String: Any] = [:]
    }

    func testMatchesNoisereduce() throws {
        let cases = makeCases()
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "denoise")
        defer { try? FileManager.default.removeItem(at: folder) }
        var manifest: [[String: Any]] = []
        for (i, c) in cases.enumerated() {
            let input = folder.appendingPathComponent("in\(i).f32")
            try TestSignals.writeRaw(c.signal, to: input)
            var entry: [String: Any] = [
                "input": input.path, "channels": c.signal.count, "rate": c.rate,
                "stationary": c.stationary, "params": c.python,
                "output": folder.appendingPathComponent("out\(i).f32").path,
            ]
            if let noise = c.noise {
                let url = folder.appendingPathComponent("noise\(i).f32")
                try TestSignals.writeRaw(noise, to: url)
                entry["noise"] = url.path
                entry["noise_channels"] = noise.count
            }
            manifest.append(entry)
        }
        let manifestURL = folder.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        try ReferenceHarness.python("denoise_reference.py", [manifestURL.path])

        for (i, c) in cases.enumerated() {
            let reference = try TestSignals.readRaw(folder.appendingPathComponent("out\(i).f32"),
                                                    channels: c.signal.count)
            let workspace = SpectralGateWorkspace()
            var worst = 0.0
            for (ch, channel) in c.signal.enumerated() {
                let profile = c.noise.map { $0.count > 1 ? $0[ch] : $0[0] }
                let gate = try SpectralGate(parameters: c.parameters, sampleRate: c.rate, noiseProfile: profile)
                let ours = gate.process(channel, workspace: workspace)
                XCTAssertEqual(ours.count, channel.count)
                let error = relativeError(ours, reference[ch])
                worst = max(worst, error)
                XCTAssertLessThanOrEqual(error, 1e-3, "\(c.name) channel \(ch): relative error \(error)")
                // The case must exercise the gate: the library's output differs from its input.
                XCTAssertGreaterThan(relativeError(channel, reference[ch]), 0.05, "\(c.name): gate idle")
            }
            print("denoise parity \(c.name): worst relative error \(worst)")
        }
    }

    func makeCases() -> [Case] {
        var cases: [Case] = []
        // 16 kHz mono, 3.2 s plus a length that is not a multiple of the hop; separate noise clip.
        let n16 = 16_000 * 3 + 3_211
        let s16 = [TestSignals.machine(count: n16, rate: 16_000, seed: 1)]
        let noise16 = [TestSignals.noise(count: 16_000 * 2 + 77, seed: 99)]
        cases.append(Case(name: "16k mono stationary", rate: 16_000, signal: s16, noise: noise16, stationary: true))
        cases.append(Case(name: "16k mono non-stationary", rate: 16_000, signal: s16, noise: nil, stationary: false,
                          parameters: SpectralGateParameters(stationary: false)))
        cases.append(Case(name: "16k mono stationary, signal as its own noise", rate: 16_000, signal: s16,
                          noise: nil, stationary: true))
        // 48 kHz, 8 channels, 1.5 s + 77 samples: a mono profile for all, then one per channel.
        let n48 = 48_000 + 24_077
        let s48 = (0..<8).map { TestSignals.machine(count: n48, rate: 48_000, seed: 10 + UInt64($0), channel: $0) }
        let noise48 = (0..<8).map { TestSignals.noise(count: 48_000 + 5, seed: 200 + UInt64($0)) }
        cases.append(Case(name: "48k 8ch stationary, mono profile", rate: 48_000, signal: s48,
                          noise: [noise48[0]], stationary: true))
        cases.append(Case(name: "48k 8ch stationary, 8ch profile", rate: 48_000, signal: s48,
                          noise: noise48, stationary: true))
        cases.append(Case(name: "48k 8ch non-stationary", rate: 48_000, signal: s48, noise: nil, stationary: false,
                          parameters: SpectralGateParameters(stationary: false)))
        // Chunked processing (signal longer than chunk_size), non-default parameters.
        let nLong = 70_001
        let sLong = [TestSignals.machine(count: nLong, rate: 16_000, seed: 5)]
        let chunked: [String: Any] = ["chunk_size": 20_000, "padding": 5_000]
        cases.append(Case(name: "16k chunked stationary", rate: 16_000, signal: sLong, noise: noise16,
                          stationary: true,
                          parameters: SpectralGateParameters(chunkSize: 20_000, padding: 5_000), python: chunked))
        cases.append(Case(name: "16k chunked non-stationary", rate: 16_000, signal: sLong, noise: nil,
                          stationary: false,
                          parameters: SpectralGateParameters(stationary: false, chunkSize: 20_000, padding: 5_000),
                          python: chunked))
        let custom: [String: Any] = ["n_fft": 512, "prop_decrease": 0.8, "n_std_thresh_stationary": 1.0,
                                     "time_mask_smooth_ms": 100, "freq_mask_smooth_hz": 300]
        cases.append(Case(name: "16k stationary, custom parameters", rate: 16_000, signal: s16, noise: noise16,
                          stationary: true,
                          parameters: SpectralGateParameters(nFFT: 512, propDecrease: 0.8, freqMaskSmoothHz: 300,
                                                             timeMaskSmoothMs: 100, nStdThreshStationary: 1.0),
                          python: custom))
        let customNS: [String: Any] = ["n_fft": 512, "hop_length": 100, "prop_decrease": 0.7,
                                       "time_constant_s": 0.5, "thresh_n_mult_nonstationary": 1.5]
        cases.append(Case(name: "16k non-stationary, custom parameters", rate: 16_000, signal: s16, noise: nil,
                          stationary: false,
                          parameters: SpectralGateParameters(stationary: false, nFFT: 512, hopLength: 100,
                                                             propDecrease: 0.7, timeConstantSeconds: 0.5,
                                                             threshNMultNonstationary: 1.5),
                          python: customNS))
        // A short signal and a small FFT: fewer frames and bins than one 16 x 16 tile of the
        // mask transposes, bins not a multiple of 16.
        let sShort = [TestSignals.machine(count: 1_500, rate: 16_000, seed: 6)]
        let small: [String: Any] = ["n_fft": 128]
        cases.append(Case(name: "16k short, n_fft 128, stationary", rate: 16_000, signal: sShort, noise: noise16,
                          stationary: true, parameters: SpectralGateParameters(nFFT: 128), python: small))
        cases.append(Case(name: "16k short, n_fft 128, non-stationary", rate: 16_000, signal: sShort, noise: nil,
                          stationary: false, parameters: SpectralGateParameters(stationary: false, nFFT: 128),
                          python: small))
        // Fewer bins than one tile (n_fft 24: 13 bins; no frequency smoothing at 2 kHz bins).
        let tiny: [String: Any] = ["n_fft": 24, "freq_mask_smooth_hz": NSNull()]
        cases.append(Case(name: "16k short, n_fft 24, non-stationary", rate: 16_000, signal: sShort, noise: nil,
                          stationary: false,
                          parameters: SpectralGateParameters(stationary: false, nFFT: 24, freqMaskSmoothHz: nil),
                          python: tiny))
        return cases
    }
}
