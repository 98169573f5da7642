import ArgumentParser
import AudioFiles
import Configuration
import Pipeline
import TensorFormats

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
        var settings = try config.load()
        _ = try TensorFile.format(of: output)  // refuse an unknown extension before any work
        let audio = try AudioFile.read(path: input)
        settings.capture.sampleRate = audio.sampleRate
        settings.denoise.enabled = false
        let stages = try SegmentProcessor(config: settings, channels: audio.channels, noiseClips: nil, separator: nil)
        guard audio.frames >= stages.minimumMelLength else {
            throw CommandFailure("\(input): \(audio.frames) samples are too few for the mel stage "
                                 + "(at least \(stages.minimumMelLength) with mel.n_fft \(settings.mel.nFFT))")
        }
        let tensors = try stages.logMel(audio.channelData)
        let tensor = Tensor(shape: [audio.channels, settings.mel.nMels, settings.mel.frames], values: tensors.flatMap(\.values))
        try TensorFile.write(tensor, to: output,
                             metadata: ["sample_rate": String(audio.sampleRate), "source": input])
    }
}
