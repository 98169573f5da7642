import DSP
import Foundation
import ReferenceHarness
import XCTest

/// The mel stage against torchaudio run on the same input (Tests/reference/mel_reference.py).
final class LogMelParityTests: XCTestCase {
    struct Case {
        var name: String
        var rate: Int
        var signal: [[Float]]
        var parameters = LogMelParameters()
    }

    func testMatchesTorchaudio() throws {
        var cases: [Case] = []
        // A 10-s segment at 16 kHz (the product's), and lengths that are not multiples of the hop.
        cases.append(Case(name: "16k 10 s mono", rate: 16_000,
                          signal: [TestSignals.machine(count: 160_000, rate: 16_000, seed: 3)]))
        cases.append(Case(name: "16k 8ch odd length", rate: 16_000,
                          signal: (0..<8).map { TestSignals.machine(count: 48_000 + 1_234, rate: 16_000,
                                                                    seed: 40 + UInt64($0), channel: $0) }))
        // N // hop == frames: torchaudio computes one frame more than is kept, and that frame's
        // loud end sets the top_db floor (48010 // 239 = 200, 1 + 48010 // 200 = 241).
        var extra = TestSignals.machine(count: 48_010, rate: 16_000, seed: 4)
        for i in (48_010 - 150)..<48_010 { extra[i] = 0.9 * Float(i % 2 == 0 ? 1 : -1) }
        cases.append(Case(name: "16k extra frame", rate: 16_000, signal: [extra]))
        cases.append(Case(name: "48k 2 s 8ch", rate: 48_000,
                          signal: (0..<8).map { TestSignals.machine(count: 96_000 + 77, rate: 48_000,
                                                                    seed: 60 + UInt64($0), channel: $0) }))
        // Quiet channel: the top_db floor clamps most of it.
        cases.append(Case(name: "16k quiet with a click", rate: 16_000, signal: [
            (0..<32_011).map { $0 == 16_000 ? 1 : Float(1e-6) * Float(($0 * 7919) % 13) },
        ]))
        cases.append(Case(name: "16k custom", rate: 16_000,
                          signal: [TestSignals.machine(count: 40_000 + 11, rate: 16_000, seed: 8)],
                          parameters: LogMelParameters(nFFT: 1024, nMels: 64, frames: 100, fMin: 50, fMax: 7000,
                                                       topDB: 60)))

        let folder = try ReferenceHarness.makeScratchFolder(prefix: "mel")
        defer { try? FileManager.default.removeItem(at: folder) }
        var manifest: [[String: Any]] = []
        for (i, c) in cases.enumerated() {
            let input = folder.appendingPathComponent("in\(i).f32")
            try TestSignals.writeRaw(c.signal, to: input)
            let p = c.parameters
            manifest.append([
                "input": input.path, "channels": c.signal.count, "rate": c.rate,
                "n_fft": p.nFFT, "n_mels": p.nMels, "frames": p.frames, "f_min": p.fMin,
                "f_max": p.fMax.map { $0 as Any } ?? NSNull(), "top_db": p.topDB.map { $0 as Any } ?? NSNull(),
                "output": folder.appendingPathComponent("out\(i).f32").path,
            ])
        }
        let manifestURL = folder.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        try ReferenceHarness.python("mel_reference.py", [manifestURL.path])

        for (i, c) in cases.enumerated() {
            let reference = try TestSignals.readRaw(folder.appendingPathComponent("out\(i).f32"),
                                                    channels: c.signal.count)
            let mel = LogMel(sampleRate: c.rate, parameters: c.parameters)
            let workspace = LogMelWorkspace()
            var worst = 0.0
            for (ch, channel) in c.signal.enumerated() {
                let ours = try mel.compute(channel, workspace: workspace)
                XCTAssertEqual(ours.count, c.parameters.nMels * c.parameters.frames)
                guard ours.count == reference[ch].count else { continue }
                let error = TestSignals.maxAbsError(ours, reference[ch])
                worst = max(worst, error)
                XCTAssertLessThanOrEqual(error, 0.01, "\(c.name) channel \(ch): max abs error \(error) dB")
                // Not a flat tensor: the case exercises the spectrogram.
                XCTAssertGreaterThan((reference[ch].max() ?? 0) - (reference[ch].min() ?? 0), 20, c.name)
            }
            print("mel parity \(c.name): worst max abs error \(worst) dB")
        }
    }

    func testRefusesShortSegments() throws {
        let mel = LogMel(sampleRate: 16_000)
        XCTAssertThrowsError(try mel.compute([Float](repeating: 0.1, count: 1_000))) { error in
            XCTAssertTrue("\(error)".contains("too short"), "\(error)")
        }
        // Impossible parameters (mel.frames 1, ...) are refused where the keys are defined, by
        // the configuration: ConfigurationTests' impossibleValue cases.
    }
}
