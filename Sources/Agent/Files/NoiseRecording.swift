import Capture
import Foundation
import Configuration
import TensorFormats

/// `acoustic-edge calibrate`: records the site's ambient noise through the capture path of
/// `run` into a noise profile.
public enum NoiseRecording {
    /// Records `seconds` from the configured capture source (or the ALSA `device`, when
    /// given) into `output` (default: `denoise.noise_profile` when it names a tensor file,
    /// else `noise.pt`); returns the line the command prints.
    public static func record(config: AgentConfig, seconds: Double, device: String?, output: String?) async throws -> String {
        var settings = CaptureSettings(config: config.capture)
        if let device { settings.source = .alsa(device: device) }
        let configured = config.denoise.noiseProfile.flatMap { TensorFormat(pathExtension: ($0 as NSString).pathExtension) != nil ? $0 : nil }
        let path = output ?? configured ?? "noise.pt"
        let profile = try await NoiseCalibration.record(settings: settings, seconds: seconds)
        try profile.write(to: path)
        let frames = profile.channelData.first?.count ?? 0
        return "noise profile \(path): \(profile.channelData.count) channel(s) x \(frames) samples at \(profile.sampleRate) Hz"
            + (profile.overrun ? " (WARNING: samples were lost while recording; record again)" : "")
    }
}
