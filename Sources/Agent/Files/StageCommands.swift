import AudioFiles
import Configuration
import Foundation
import Pipeline
import Separator
import TensorFormats

/// The work of the single-stage commands (`denoise`, `mel`, `separate`) on files: each stage
/// exactly as the pipeline runs it, with the configuration's settings.
public enum StageCommands {
    /// Denoises every channel of `input` into the float32 WAV `output`. The stage runs at the
    /// file's rate; `noise` (or `denoise.noise_profile`) must be at the same rate.
    public static func denoise(config: AgentConfig, noise: String?, input: String, output: String) throws {
        var config = config
        let audio = try AudioFile.read(path: input)
        config.capture.sampleRate = audio.sampleRate
        config.denoise.enabled = true
        config.separator.model = nil
        var settings = PipelineSettings(config: config)
        settings.noiseProfile = config.denoise.stationary ? (noise ?? config.denoise.noiseProfile) : nil
        let setup = try PipelineSetup(settings: settings, channels: audio.channels, inputName: input)
        let clean = setup.processor.denoise(audio.channelData)
        try AudioFile.write(AudioBuffer(sampleRate: audio.sampleRate, channelData: clean), to: output)
    }

    /// Turns every channel of `input` (its whole length is the segment) into one tensor
    /// `[channels, n_mels, frames]` written to `output` (format by extension).
    public static func mel(config: AgentConfig, input: String, output: String) throws {
        var config = config
        _ = try TensorFile.format(of: output)  // refuse an unknown extension before any work
        let audio = try AudioFile.read(path: input)
        config.capture.sampleRate = audio.sampleRate
        config.denoise.enabled = false
        config.separator.model = nil
        let stages = try PipelineSetup(settings: PipelineSettings(config: config), channels: audio.channels, inputName: input).processor
        guard audio.frames >= stages.minimumMelLength else {
            throw AgentFailure("\(input): \(audio.frames) samples are too few for the mel stage "
                               + "(at least \(stages.minimumMelLength) with mel.n_fft \(config.mel.nFFT))")
        }
        let tensors = try stages.logMel(audio.channelData)
        let tensor = Tensor(shape: [audio.channels, config.mel.nMels, config.mel.frames], values: tensors.flatMap(\.values))
        try TensorFile.write(tensor, to: output, metadata: ["sample_rate": String(audio.sampleRate), "source": input])
    }

    /// Separates every channel of `input` with the model at `model` into `outdir/<source>.wav`
    /// (float32, one channel per input channel); returns the line the command prints.
    public static func separate(model: String, input: String, outdir: String) throws -> String {
        let separator = try SourceSeparator(modelPath: model)
        var audio = try AudioFile.read(path: input)
        if audio.sampleRate != separator.sampleRate {
            audio = try Resampler.resample(audio, to: separator.sampleRate)
        }
        guard audio.channels % separator.audioChannels == 0 else {
            throw AgentFailure("\(input): \(audio.channels) channel(s) for a model of \(separator.audioChannels) audio channels")
        }
        let parts = try separator.separate(channels: audio.channelData)  // [channel][source][sample]
        do {
            try FileManager.default.createDirectory(atPath: outdir, withIntermediateDirectories: true)
        } catch {
            throw AgentFailure("cannot create output folder \(outdir): \(error.localizedDescription)")
        }
        for (index, source) in separator.sources.enumerated() {
            let buffer = AudioBuffer(sampleRate: separator.sampleRate, channelData: parts.map { $0[index] })
            try AudioFile.write(buffer, to: (outdir as NSString).appendingPathComponent("\(source).wav"))
        }
        return "\(input): \(audio.channels) channel(s), \(audio.frames) samples at \(audio.sampleRate) Hz -> "
            + separator.sources.map { "\(outdir)/\($0).wav" }.joined(separator: ", ")
    }
}
