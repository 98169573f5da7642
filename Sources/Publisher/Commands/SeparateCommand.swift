import ArgumentParser
import AudioFiles
import Foundation
import Separator

/// `acoustic-edge separate --model MODEL INPUT OUTDIR`: the separation stage alone.
struct SeparateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "separate",
        abstract: "Separate an audio file into the machine parts of a Demucs model.",
        discussion: """
            MODEL is an HTDemucs model in the demucs library's safetensors format (SPEC.md \
            "Model file"). Every channel of INPUT (any format libsndfile reads) is separated on \
            its own, as demucs.apply.apply_model(shifts=0) does: one pass for up to the model's \
            segment, overlapping segments (overlap 0.25) for longer files. INPUT is resampled \
            to the model's rate when it differs. Writes OUTDIR/<source>.wav, float32, one \
            channel per input channel, each file whole or not at all.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The model file (.safetensors).", valueName: "model"))
    var model: String

    @Argument(help: ArgumentHelp("The audio file to separate.", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The folder for <source>.wav (created when missing).", valueName: "outdir"))
    var outdir: String

    func run() async throws {
        let separator = try SourceSeparator(modelPath: model)
        var audio = try AudioFile.read(path: input)
        if audio.sampleRate != separator.sampleRate {
            audio = try Resampler.resample(audio, to: separator.sampleRate)
        }
        guard audio.channels % separator.audioChannels == 0 else {
            throw CommandFailure("\(input): \(audio.channels) channel(s) for a model of \(separator.audioChannels) audio channels")
        }
        let parts = try separator.separate(channels: audio.channelData)  // [channel][source][sample]
        do {
            try FileManager.default.createDirectory(atPath: outdir, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create output folder \(outdir): \(error.localizedDescription)")
        }
        for (index, source) in separator.sources.enumerated() {
            let buffer = AudioBuffer(sampleRate: separator.sampleRate, channelData: parts.map { $0[index] })
            try AudioFile.write(buffer, to: (outdir as NSString).appendingPathComponent("\(source).wav"))
        }
        print("\(input): \(audio.channels) channel(s), \(audio.frames) samples at \(audio.sampleRate) Hz -> "
              + separator.sources.map { "\(outdir)/\($0).wav" }.joined(separator: ", "))
    }
}
