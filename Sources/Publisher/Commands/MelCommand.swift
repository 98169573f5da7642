import ArgumentParser
import AudioFiles
import Configuration
import DSP
import Dispatch
import Foundation
import TensorFormats

/// `acoustic-edge mel [--config FILE] INPUT OUTPUT.pt`: the mel stage alone, a tensor
/// `[channels, n_mels, frames]` (240 x 240 by default) of INPUT.
struct MelCommand: AgentCommand {
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

    func execute() async throws {
        let settings = try config.load()
        _ = try TensorFile.format(of: output)  // refuse an unknown extension before any work
        let audio = try AudioFile.read(path: input)
        let mel: LogMel
        do {
            mel = try LogMel(sampleRate: audio.sampleRate, parameters: LogMelParameters(settings.mel))
        } catch {
            throw CommandFailure(error.description, status: ExitStatus.configuration)
        }
        guard audio.frames >= mel.minimumLength else {
            throw CommandFailure("\(input): \(audio.frames) samples are too few for the mel stage "
                                 + "(at least \(mel.minimumLength) with mel.n_fft \(settings.mel.nFFT))")
        }
        let channels = audio.channelData
        let results = ChannelResults(count: audio.channels)
        let workers = max(1, min(audio.channels, ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let workspace = LogMelWorkspace()
            var channel = worker
            while channel < channels.count {
                // The length was checked above, so compute cannot refuse the channel.
                results.store((try? mel.compute(channels[channel], workspace: workspace)) ?? [], at: channel)
                channel += workers
            }
        }
        let p = mel.parameters
        let tensor = Tensor(shape: [audio.channels, p.nMels, p.frames], values: results.values.flatMap { $0 })
        try TensorFile.write(tensor, to: output,
                             metadata: ["sample_rate": String(audio.sampleRate), "source": input])
    }
}

extension LogMelParameters {
    /// The `mel.*` settings as the stage's parameters.
    init(_ config: MelConfig) {
        self.init(nFFT: config.nFFT, nMels: config.nMels, frames: config.frames, fMin: config.fMin,
                  fMax: config.fMax, topDB: config.topDB)
    }
}
