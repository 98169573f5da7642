import AudioFiles
import Foundation
import Pipeline
import ReferenceHarness
import Testing
@testable import Capture

extension ALSACaptureTests {
    /// Live capture and `process` cut the same audio into the same segments: what ALSA
    /// delivers equals `FileSegmenter` (the `process` path) on a WAV of the same samples.
    @Test func alsaSegmentsEqualProcessSegments() async throws {
        let frames = 2000 * 3 + 500
        let signal = testSignal(frames: frames, seed: 31)
        try TestDevices.setInfile("float", encode(signal, as: .float32).bytes)
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "agreement")
        defer { try? FileManager.default.removeItem(at: folder) }
        let wav = folder.appendingPathComponent("site.wav").path
        try AudioFile.write(AudioBuffer(sampleRate: 16000, channels: 8, samples: signal), to: wav)

        var settings = CaptureSettings(source: .alsa(device: "ae_test_float"), segmentFrames: 2000)
        settings.waitForConsumerInTests = true
        let capture = try AudioCapture(settings: settings)
        try capture.start()
        let live = await collect(capture, count: 3)

        let file = try FileSegmenter(path: wav, sampleRate: 16000, channels: 0, segmentFrames: 2000)
        #expect(file.count == 3)
        for (i, segment) in live.enumerated() {
            let processed = file.segment(i)
            #expect(segment.index == processed.index && segment.firstSample == processed.firstSample)
            #expect(segment.channelData == processed.channelData, "segment \(i) differs")
        }
    }

    /// The profile `calibrate` writes is what the denoise stage loads (`NoiseProfileFile`).
    @Test func calibratedProfileLoadsInTheDenoiseStage() async throws {
        let signal = testSignal(frames: 8000, seed: 32)
        try TestDevices.setInfile("float", encode(signal, as: .float32).bytes)
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "profile")
        defer { try? FileManager.default.removeItem(at: folder) }
        let profile = try await NoiseCalibration.record(
            settings: CaptureSettings(source: .alsa(device: "ae_test_float")), seconds: 0.25)
        for ext in ["pt", "safetensors", "npy"] {
            let path = folder.appendingPathComponent("noise.\(ext)").path
            try profile.write(to: path)
            let clips = try NoiseProfileFile.load(path: path, channels: 8, sampleRate: 16000, inputName: "test")
            #expect(clips.count == 8)
            #expect(clips == profile.channelData, "\(ext)")
            #expect(clips[5] == (0..<4000).map { signal[$0 * 8 + 5] })
        }
        // safetensors carries the rate: a profile recorded at 16 kHz is refused for 48 kHz input.
        #expect(throws: PipelineError.self) {
            try NoiseProfileFile.load(path: folder.appendingPathComponent("noise.safetensors").path,
                                      channels: 8, sampleRate: 48000, inputName: "test")
        }
    }
}
