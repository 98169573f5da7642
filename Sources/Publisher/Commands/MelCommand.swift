import Agent
import ArgumentParser

/// `acoustic-edge mel [--config FILE] INPUT OUTPUT.pt`: the mel stage alone, a tensor
/// `[channels, n_mels, frames]` (240 x 240 by default) of INPUT.
struct MelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mel",
        abstract: "Turn an audio file into a log-mel tensor [channels, 240, 240] (as torchaudio computes it).",
        discussion: """
            Each channel of INPUT (its whole length is the segment) becomes torchaudio's \
            MelSpectrogram (HTK mel scale, no filter norm, power 2, centred reflect-padded STFT, \
            hop = samples // (frames - 1)) followed by AmplitudeToDB("power", top_db), first \
            `frames` frames kept, with the mel.* settings of the configuration. OUTPUT is a \
            float32 tensor [channels, n_mels, frames]; its extension chooses the format (.pt as \
            torch.save writes it, .safetensors, .npy). Written whole or not at all.
            """
    )

    @OptionGroup var config: ConfigOption

    @Argument(help: ArgumentHelp("The audio file (any format libsndfile reads).", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The tensor file to write (.pt, .safetensors or .npy).", valueName: "output"))
    var output: String

    func run() async throws {
        try StageCommands.mel(config: try config.load(), input: input, output: output)
    }
}
