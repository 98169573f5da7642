import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

/// `acoustic-edge process` against the original prototype's pipeline run in Python with the
/// real libraries (noisereduce -> demucs apply_model -> torchaudio mel), per microphone and
/// source, on a 25-s 4-microphone recording with a torch-saved noise profile and a
/// random-initialized model.
final class ProcessEndToEndTests: XCTestCase {
    func testProcessMatchesThePrototypePipeline() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "process")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ReferenceHarness.python("pipeline_inputs.py", [dir.path, "--seconds", "25", "--channels", "4"])
        // A small mono HTDemucs at 16 kHz whose segment is the agent's 10 s.
        let kwargs = #"{"sources": ["fan", "pump"], "audio_channels": 1, "samplerate": 16000, "segment": 10, "channels": 8, "depth": 3, "nfft": 512, "t_layers": 1, "t_heads": 2, "bottom_channels": 0, "dconv_comp": 4}"#
        try ReferenceHarness.python("demucs_reference.py", [dir.appendingPathComponent("m").path, "--kwargs", kwargs, "--model-only"])
        let model = dir.appendingPathComponent("m/model.safetensors").path
        let config = dir.appendingPathComponent("config.yaml")
        try """
            capture:
              sample_rate: 16000
              segment_seconds: 10
            denoise:
              noise_profile: \(dir.appendingPathComponent("noise.pt").path)
            separator:
              model: \(model)
            """.write(to: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let run = try ReferenceHarness.runCapturing(ReferenceHarness.agentExecutable, [
            "process", "--config", config.path, "--output", out.path, "--start", "2025-07-16T15:03:20.000Z",
            dir.appendingPathComponent("recording.wav").path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("the last 80000 frames do not fill a segment and were dropped"), run.stderr)
        let folders = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(folders, ["2025-07-16_15-03-20", "2025-07-16_15-03-30"])

        let reference = dir.appendingPathComponent("ref")
        try ReferenceHarness.python("prototype_pipeline.py", [
            dir.appendingPathComponent("recording.wav").path, reference.path,
            "--noise", dir.appendingPathComponent("noise.pt").path, "--model", model,
        ])
        var worst: Float = 0
        for (k, folder) in folders.enumerated() {
            let record = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(folder)/segment.json"))) as! [String: Any]
            XCTAssertEqual(record["segment_index"] as? Int, k)
            XCTAssertEqual(record["first_sample"] as? Int, k * 160_000)
            XCTAssertEqual(record["sources"] as? [String], ["fan", "pump"])
            XCTAssertEqual(record["model"] as? String, "model.safetensors")
            XCTAssertEqual((record["model_sha256"] as? String)?.count, 64)
            for mic in 0..<4 {
                for source in ["fan", "pump"] {
                    let ours = try TensorFile.read(path: out.appendingPathComponent("\(folder)/mic_\(mic)/\(source).pt").path)
                    let theirs = try TensorFile.read(path: reference.appendingPathComponent("seg_\(k)/mic_\(mic)/\(source).npy").path)
                    XCTAssertEqual(ours.shape, [1, 240, 240])
                    XCTAssertEqual(theirs.shape, [1, 240, 240])
                    let errors = zip(ours.values, theirs.values).map { abs($0 - $1) }.sorted()
                    let p99 = errors[Int(Double(errors.count - 1) * 0.99)]
                    worst = max(worst, p99)
                    XCTAssertLessThanOrEqual(p99, 0.05, "segment \(k) mic \(mic) \(source): p99 error \(p99) dB, max \(errors.last!) dB")
                }
            }
        }
        print("process vs prototype pipeline: worst p99 error \(worst) dB")
    }

    func testBadInputFailsOnOneLineWithNothingWritten() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "process-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        // An unreadable input.
        var run = try ReferenceHarness.runCapturing(ReferenceHarness.agentExecutable, ["process", "--output", out, "/nonexistent/in.wav"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("acoustic-edge: error: /nonexistent/in.wav: "), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // A model whose rate does not match capture.sample_rate.
        try ReferenceHarness.python("pipeline_inputs.py", [dir.path, "--seconds", "11", "--channels", "2"])
        let kwargs = #"{"sources": ["fan"], "audio_channels": 1, "samplerate": 8000, "segment": 2, "channels": 4, "depth": 2, "nfft": 256, "t_layers": 0}"#
        try ReferenceHarness.python("demucs_reference.py", [dir.appendingPathComponent("m").path, "--kwargs", kwargs, "--model-only"])
        let config = dir.appendingPathComponent("config.yaml")
        try "separator:\n  model: \(dir.appendingPathComponent("m/model.safetensors").path)\n".write(to: config, atomically: true, encoding: .utf8)
        run = try ReferenceHarness.runCapturing(ReferenceHarness.agentExecutable, [
            "process", "--config", config.path, "--output", out, dir.appendingPathComponent("recording.wav").path,
        ])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr, "acoustic-edge: error: the model runs at 8000 Hz but capture.sample_rate is 16000 Hz\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
