import Agent
import ArgumentParser

/// `acoustic-edge denoise --noise NOISE [--config FILE] INPUT OUTPUT`: the denoise stage alone,
/// every channel of INPUT, written as a float32 WAV with INPUT's channels and rate.
struct DenoiseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "Remove the site's background noise from an audio file (spectral gating, as noisereduce 3.0.3).",
        discussion: """
            Every channel of INPUT is gated on its own, with the denoise.* settings of the \
            configuration (noisereduce's reduce_noise parameters and defaults). Stationary \
            gating (denoise.stationary, the default) takes its thresholds from a noise profile: \
            a tensor file [channels, samples] or [samples] as calibrate or torch.save wrote it \
            (.pt, .safetensors, .npy), or an audio file of the ambient noise at INPUT's rate. A \
            mono profile applies to every channel; otherwise it needs at least INPUT's channel \
            count. Without --noise, denoise.noise_profile is used; without either, each channel \
            is its own noise clip (as noisereduce does without y_noise). Non-stationary gating \
            needs no profile. OUTPUT is a float32 WAV, written whole or not at all.
            """
    )

    @OptionGroup var config: ConfigOption

    @Option(name: .long, help: ArgumentHelp("The noise profile: a tensor file (.pt, .safetensors, .npy) or an audio file.",
                                            valueName: "file"))
    var noise: String?

    @Argument(help: ArgumentHelp("The audio file to denoise (any format libsndfile reads).", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The denoised float32 WAV to write.", valueName: "output"))
    var output: String

    func run() async throws {
        try StageCommands.denoise(config: try config.load(), noise: noise, input: input, output: output)
    }
}
