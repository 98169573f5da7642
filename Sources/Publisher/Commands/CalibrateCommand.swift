import Agent
import ArgumentParser

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
        print(try await NoiseRecording.record(config: try config.load(), seconds: seconds, device: device, output: output))
    }
}
