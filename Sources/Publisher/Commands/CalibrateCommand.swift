import ArgumentParser
import Capture
import Configuration

/// `acoustic-edge calibrate`: records the site's ambient noise into a noise profile.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Record the site's ambient noise from the capture device into a noise profile.",
        discussion: """
            Run it with the machines off. Records --seconds of every microphone from the \
            configured capture source (capture.device, capture.channels, capture.sample_rate; \
            or capture.file with source: file) and writes a float32 tensor [channels, samples] \
            at the capture rate: .pt as torch.save writes it (.safetensors and .npy by \
            extension). Point denoise.noise_profile at it. The file appears whole or not at all.
            """
    )

    @OptionGroup var config: ConfigOption

    @Option(name: .long, help: "Seconds of noise to record.")
    var seconds: Double = 10

    @Option(name: .long, help: ArgumentHelp("The noise profile to write (.pt, .safetensors or .npy); default: denoise.noise_profile, else noise.pt.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: "Record from this ALSA device instead of capture.device.")
    var device: String?

    func run() async throws {
        let agent = try config.load()
        var settings = CaptureSettings(config: agent.capture)
        if let device { settings.source = .alsa(device: device) }
        let path = output ?? agent.denoise.noiseProfile.flatMap { Self.isTensorFile($0) ? $0 : nil } ?? "noise.pt"
        let profile = try await NoiseCalibration.record(settings: settings, seconds: seconds)
        try profile.write(to: path)
        let frames = profile.channelData.first?.count ?? 0
        print("noise profile \(path): \(profile.channelData.count) channel(s) x \(frames) samples at \(profile.sampleRate) Hz"
              + (profile.overrun ? " (WARNING: samples were lost while recording; record again)" : ""))
    }

    /// A noise profile may also be an audio file; calibrate only ever writes tensor files.
    private static func isTensorFile(_ path: String) -> Bool {
        [".pt", ".safetensors", ".npy"].contains { path.lowercased().hasSuffix($0) }
    }
}
