import AudioFiles
import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

/// `acoustic-edge denoise` and `acoustic-edge mel` end to end: files in, files out, compared with
/// noisereduce and torchaudio; and their one-line refusals of bad input.
final class DSPCommandTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try ReferenceHarness.makeScratchFolder(prefix: "dsp-cli")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs the agent; returns its exit status and stderr.
    func agent(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let result = try ReferenceHarness.runCapturing(ReferenceHarness.agentExecutable, arguments)
        return (result.status, result.stderr)
    }

    /// Two channels, 16 kHz, 2.5 s plus a few samples.
    func writeInput(channels: Int = 2, rate: Int = 16_000) throws -> [[Float]] {
        let count = rate * 5 / 2 + 37
        let data = (0..<channels).map { TestSignals.machine(count: count, rate: rate, seed: 70 + UInt64($0), channel: $0) }
        try AudioFile.write(AudioBuffer(sampleRate: rate, channelData: data), to: path("in.wav"))
        return data
    }

    func testDenoiseMatchesNoisereduce() throws {
        let input = try writeInput()
        let noise = TestSignals.noise(count: 16_000 + 11, seed: 300)
        try TensorFile.write(Tensor(shape: [noise.count], values: noise), to: path("noise.pt"))
        let run = try agent(["denoise", "--noise", path("noise.pt"), path("in.wav"), path("out.wav")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = try AudioFile.read(path: path("out.wav"))
        XCTAssertEqual(output.channels, 2)
        XCTAssertEqual(output.sampleRate, 16_000)
        XCTAssertEqual(output.frames, input[0].count)

        try TestSignals.writeRaw(input, to: folder.appendingPathComponent("in.f32"))
        try TestSignals.writeRaw([noise], to: folder.appendingPathComponent("noise.f32"))
        let manifest: [[String: Any]] = [[
            "input": path("in.f32"), "channels": 2, "rate": 16_000, "noise": path("noise.f32"),
            "noise_channels": 1, "stationary": true, "params": [String: Any](), "output": path("ref.f32"),
        ]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("m.json"))
        try ReferenceHarness.python("denoise_reference.py", [path("m.json")])
        let reference = try TestSignals.readRaw(folder.appendingPathComponent("ref.f32"), channels: 2)
        for c in 0..<2 {
            let error = relativeError(output.channel(c), reference[c])
            XCTAssertLessThanOrEqual(error, 1e-3, "channel \(c): relative error \(error)")
        }
    }

    func testDenoiseRefusesBadInput() throws {
        _ = try writeInput(channels: 3)
        // A profile with 2 channels for 3 microphones.
        let two = TestSignals.noise(count: 8_000, seed: 1) + TestSignals.noise(count: 8_000, seed: 2)
        try TensorFile.write(Tensor(shape: [2, 8_000], values: two), to: path("noise2.pt"))
        var run = try agent(["denoise", "--noise", path("noise2.pt"), path("in.wav"), path("out.wav")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("2 channels") && run.stderr.contains("has 3"), run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        // Noise recorded at another rate.
        try AudioFile.write(AudioBuffer(sampleRate: 48_000, channelData: [TestSignals.noise(count: 48_000, seed: 3)]),
                            to: path("noise48.wav"))
        run = try agent(["denoise", "--noise", path("noise48.wav"), path("in.wav"), path("out.wav")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("48000 Hz") && run.stderr.contains("16000 Hz"), run.stderr)
        // A missing input file, a missing noise file.
        run = try agent(["denoise", "--noise", path("noise48.wav"), path("missing.wav"), path("out.wav")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("missing.wav"), run.stderr)
        run = try agent(["denoise", "--noise", path("nothing.pt"), path("in.wav"), path("out.wav")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("nothing.pt"), run.stderr)
        // An empty audio file.
        try AudioFile.write(AudioBuffer(sampleRate: 16_000, channels: 1, samples: []), to: path("empty.wav"))
        run = try agent(["denoise", "--noise", path("noise2.pt"), path("empty.wav"), path("out.wav")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("empty.wav"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.wav")), "no output after a refusal")
    }

    func testMelMatchesTorchaudio() throws {
        let input = try writeInput()
        let run = try agent(["mel", path("in.wav"), path("mel.pt")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let tensor = try TensorFile.read(path: path("mel.pt"))
        XCTAssertEqual(tensor.shape, [2, 240, 240])

        try TestSignals.writeRaw(input, to: folder.appendingPathComponent("in.f32"))
        let manifest: [[String: Any]] = [["input": path("in.f32"), "channels": 2, "rate": 16_000,
                                          "output": path("ref.f32")]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("m.json"))
        try ReferenceHarness.python("mel_reference.py", [path("m.json")])
        let reference = try TestSignals.readRaw(folder.appendingPathComponent("ref.f32"), channels: 1)[0]
        let error = TestSignals.maxAbsError(tensor.values, reference)
        XCTAssertLessThanOrEqual(error, 0.01, "max abs error \(error) dB")
    }

    func testConfigurationSettingsReachTheStages() throws {
        let input = try writeInput()
        try "denoise:\n  stationary: false\n  prop_decrease: 0.5\nmel:\n  n_mels: 64\n  frames: 100\n"
            .write(toFile: path("c.yaml"), atomically: true, encoding: .utf8)
        var run = try agent(["denoise", "--config", path("c.yaml"), path("in.wav"), path("out.wav")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = try AudioFile.read(path: path("out.wav"))
        try TestSignals.writeRaw(input, to: folder.appendingPathComponent("in.f32"))
        let manifest: [[String: Any]] = [[
            "input": path("in.f32"), "channels": 2, "rate": 16_000, "stationary": false,
            "params": ["prop_decrease": 0.5], "output": path("ref.f32"),
        ]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("m.json"))
        try ReferenceHarness.python("denoise_reference.py", [path("m.json")])
        let reference = try TestSignals.readRaw(folder.appendingPathComponent("ref.f32"), channels: 2)
        for c in 0..<2 {
            XCTAssertLessThanOrEqual(relativeError(output.channel(c), reference[c]), 1e-3)
        }
        run = try agent(["mel", "--config", path("c.yaml"), path("in.wav"), path("mel.npy")])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try TensorFile.read(path: path("mel.npy")).shape, [2, 64, 100])
        // A value impossible at the input's rate (it depends on the rate, so the configuration
        // check cannot see it) is refused on one line naming its key.
        try "denoise:\n  freq_mask_smooth_hz: 3\n".write(toFile: path("bad.yaml"), atomically: true, encoding: .utf8)
        run = try agent(["denoise", "--config", path("bad.yaml"), path("in.wav"), path("out2.wav")])
        XCTAssertNotEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("freq_mask_smooth_hz"), run.stderr)
    }

    func testMelRefusesBadInput() throws {
        try AudioFile.write(AudioBuffer(sampleRate: 16_000, channelData: [[Float](repeating: 0.1, count: 500)]),
                            to: path("short.wav"))
        var run = try agent(["mel", path("short.wav"), path("mel.pt")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("too few"), run.stderr)
        run = try agent(["mel", path("missing.wav"), path("mel.pt")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("missing.wav"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("mel.pt")))
    }
}
