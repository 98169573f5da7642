import ArgumentParser
import Capture

/// `acoustic-edge calibrate`: records the site's ambient noise into a noise profile.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Record the site's ambient noise from the capture device into a noise profile.",
        discussion: """
            Run it with the machines off. Records --seconds of every microphone from the \
            configured capture source and writes a float32 tensor [channels, samples] at the \
            capture rate (.pt as torch.save writes it; .safetensors and .npy by extension), \
            the file denoise.noise_profile points to. The file appears whole or not at all.
            """
    )

    @Option(name: .long, help: "Seconds of noise to record.")
    var seconds: Double = 10

    @Option(name: .long, help: "The noise profile to write (.pt, .safetensors or .npy).")
    var output: String = "noise.pt"

    @Option(name: .long, help: "ALSA capture device (capture.device).")
    var device: String = "default"

    @Option(name: .long, help: "Microphones to record; 0 = the device's maximum (capture.channels).")
    var channels: Int = 0

    @Option(name: .customLong("sample-rate"), help: "Samples per second (capture.sample_rate).")
    var sampleRate: Int = 16000

    func run() async throws {
        let settings = CaptureSettings(source: .alsa(device: device), channels: channels, sampleRate: sampleRate)
        let profile = try await NoiseCalibration.record(settings: settings, seconds: seconds)
        try profile.write(to: output)
        let frames = profile.channelData.first?.count ?? 0
        print("noise profile \(output): \(profile.channelData.count) channel(s) x \(frames) samples at \(profile.sampleRate) Hz"
              + (profile.overrun ? " (WARNING: samples were lost while recording; record again)" : ""))
    }
}
