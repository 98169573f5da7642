import Foundation
import ReferenceHarness
import Testing
@testable import Capture

extension ALSACaptureTests {
    /// `calibrate` records through the same capture path and writes [channels, samples] that
    /// the real torch.load reads back equal to the audio the device delivered.
    @Test func calibrationProfileLoadsInTorch() async throws {
        let signal = testSignal(frames: 12_000, seed: 11)
        let bytes = encode(signal, as: .float32).bytes
        try TestDevices.setInfile("float", bytes)
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "calibrate")
        defer { try? FileManager.default.removeItem(at: folder) }
        let profile = try await NoiseCalibration.record(
            settings: CaptureSettings(source: .alsa(device: "ae_test_float")), seconds: 0.5)
        #expect(profile.channelData.count == 8 && profile.channelData[0].count == 8000)
        let pt = folder.appendingPathComponent("noise.pt").path
        try profile.write(to: pt)
        let raw = folder.appendingPathComponent("stream.raw")
        try Data(bytes).write(to: raw)
        let out = try ReferenceHarness.python("capture_profile_check.py", [pt, raw.path, "8", "8000"])
        #expect(out.hasPrefix("ok"), "\(out)")
    }

    /// The command line: `devices` lists the test device, `calibrate` writes a profile, and a
    /// missing device is one line on stderr with a non-zero status and no file.
    @Test func commandLineDevicesAndCalibrate() throws {
        TestDevices.install()
        let binary = ReferenceHarness.agentExecutable
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the acoustic-edge product first")
        let env = ["ALSA_CONFIG_PATH": TestDevices.folder.appendingPathComponent("alsa.conf").path]
        let devices = try ReferenceHarness.run(binary, ["devices"], environment: env)
        #expect(devices.contains("ae_test_float\n    acoustic-edge test device: 8 channels, any format\n    channels: 8   rates: any"), "\(devices)")
        #expect(devices.contains("formats: FLOAT_LE S32_LE S24_LE S24_3LE S16_LE"))

        let signal = testSignal(frames: 4000, seed: 12)
        try TestDevices.setInfile("float", encode(signal, as: .float32).bytes)
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "calibrate-cli")
        defer { try? FileManager.default.removeItem(at: folder) }
        let pt = folder.appendingPathComponent("noise.pt").path
        let ok = try ReferenceHarness.runCapturing(
            binary, ["calibrate", "--device", "ae_test_float", "--seconds", "0.25", "--output", pt], environment: env)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("8 channel(s) x 4000 samples at 16000 Hz"))
        let tensor = try ReferenceHarness.python("capture_profile_check.py",
            [pt, TestDevices.folder.appendingPathComponent("float.raw").path, "8", "4000"])
        #expect(tensor.hasPrefix("ok"))

        // From the configuration file: capture.device and friends; a typo is refused (status 2).
        let yaml = folder.appendingPathComponent("site.yaml")
        try """
            capture:
              device: ae_test_float
              channels: 0
              sample_rate: 16000
            denoise:
              noise_profile: \(folder.appendingPathComponent("site-noise.pt").path)
            """.write(to: yaml, atomically: true, encoding: .utf8)
        let fromConfig = try ReferenceHarness.runCapturing(
            binary, ["calibrate", "--config", yaml.path, "--seconds", "0.125"], environment: env)
        #expect(fromConfig.status == 0, "\(fromConfig.stderr)")
        #expect(fromConfig.stdout.contains("site-noise.pt: 8 channel(s) x 2000 samples at 16000 Hz"), "\(fromConfig.stdout)")
        try "capture:\n  devise: ae_test_float\n".write(to: yaml, atomically: true, encoding: .utf8)
        let typo = try ReferenceHarness.runCapturing(binary, ["calibrate", "--config", yaml.path], environment: env)
        #expect(typo.status == 2 && typo.stderr.contains("capture.devise"), "\(typo.stderr)")

        let missing = folder.appendingPathComponent("missing.pt").path
        let bad = try ReferenceHarness.runCapturing(
            binary, ["calibrate", "--device", "ae_gone", "--seconds", "1", "--output", missing], environment: env)
        #expect(bad.status != 0)
        let errorLines = bad.stderr.split(separator: "\n").filter { $0.contains("ae_gone") }
        #expect(errorLines.count == 1, "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
