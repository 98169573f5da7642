import ArgumentParser
import AudioFiles
import Configuration
import DSP
import Dispatch
import Foundation
import TensorFormats

/// `acoustic-edge denoise --noise NOISE [--config FILE] INPUT OUTPUT`: the denoise stage alone,
/// every channel of INPUT, written as a float32 WAV with INPUT's channels and rate.
struct DenoiseCommand: AgentCommand {
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

    func execute() async throws {
        let settings = try config.load()
        let audio = try AudioFile.read(path: input)
        let parameters = SpectralGateParameters(settings.denoise)
        var profiles: [[Float]?] = Array(repeating: nil, count: audio.channels)
        if parameters.stationary, let path = noise ?? settings.denoise.noiseProfile {
            profiles = try NoiseProfileFile.load(path: path, for: audio, inputName: input).map { $0 }
        }
        // One gate per distinct profile (they precompute its statistics), built up front so a bad
        // parameter is reported before any work.
        var gates: [SpectralGate] = []
        for channel in 0..<audio.channels {
            if channel > 0, profiles[channel] == profiles[channel - 1] {
                gates.append(gates[channel - 1])
                continue
            }
            do {
                gates.append(try SpectralGate(parameters: parameters, sampleRate: audio.sampleRate,
                                              noiseProfile: profiles[channel]))
            } catch {
                throw CommandFailure(error.description, status: ExitStatus.configuration)
            }
        }
        let channels = audio.channelData
        let results = ChannelResults(count: audio.channels)
        let gateList = gates
        let workers = max(1, min(audio.channels, ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let workspace = SpectralGateWorkspace()
            var channel = worker
            while channel < channels.count {
                results.store(gateList[channel].process(channels[channel], workspace: workspace), at: channel)
                channel += workers
            }
        }
        try AudioFile.write(AudioBuffer(sampleRate: audio.sampleRate, channelData: results.values), to: output)
    }
}

/// One result per channel, written by concurrent workers.
final class ChannelResults: @unchecked Sendable {
    // @unchecked: each worker writes only its own indices, under the lock; read after all
    // workers finished (concurrentPerform returns when they have).
    private var slots: [[Float]]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: [], count: count) }

    func store(_ value: [Float], at index: Int) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    var values: [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        return slots
    }
}

/// Reads a noise profile for the denoise stage.
enum NoiseProfileFile {
    /// The noise clip for each channel of `audio`: from a tensor file `[channels, samples]` or
    /// `[samples]` (`.pt`, `.safetensors`, `.npy`) or an audio file. A mono profile serves every
    /// channel; a profile with fewer channels than the audio (but more than one) is refused, as
    /// is a sample rate that differs from the audio's (audio files, and safetensors files whose
    /// metadata names a `sample_rate`; `.pt`/`.npy` carry no rate and are taken as recorded at
    /// the audio's rate).
    static func load(path: String, for audio: AudioBuffer, inputName: String) throws -> [[Float]] {
        let ext = (path as NSString).pathExtension.lowercased()
        var rate: Int? = nil
        var clips: [[Float]]
        if TensorFile.Format(pathExtension: ext) != nil {
            let tensor: Tensor
            if ext == "safetensors" {
                let file = try SafeTensorsFormat.decode(try TensorFile.readBytes(path: path), what: path)
                guard file.names.count == 1, let only = file.tensors[file.names[0]] else {
                    throw CommandFailure("\(path): a noise profile holds one tensor, this file has \(file.names.count)")
                }
                tensor = only
                if let text = file.metadata["sample_rate"] {
                    guard let value = Int(text) else {
                        throw CommandFailure("\(path): metadata sample_rate '\(text)' is not a number")
                    }
                    rate = value
                }
            } else {
                tensor = try TensorFile.read(path: path)
            }
            switch tensor.shape.count {
            case 1:
                clips = [tensor.values]
            case 2:
                let (c, n) = (tensor.shape[0], tensor.shape[1])
                clips = (0..<c).map { Array(tensor.values[($0 * n)..<(($0 + 1) * n)]) }
            default:
                throw CommandFailure("\(path): a noise profile is [channels, samples] or [samples], "
                                     + "not \(tensor.shape)")
            }
        } else {
            let buffer = try AudioFile.read(path: path)
            rate = buffer.sampleRate
            clips = buffer.channelData
        }
        if let rate, rate != audio.sampleRate {
            throw CommandFailure("noise profile \(path) is at \(rate) Hz but \(inputName) is at \(audio.sampleRate) Hz")
        }
        guard let first = clips.first, !first.isEmpty else {
            throw CommandFailure("\(path): the noise profile holds no samples")
        }
        if clips.count == 1 { return Array(repeating: first, count: audio.channels) }
        guard clips.count >= audio.channels else {
            throw CommandFailure("noise profile \(path) has \(clips.count) channels but \(inputName) has "
                                 + "\(audio.channels); give one per channel or a mono profile")
        }
        return Array(clips.prefix(audio.channels))
    }
}

extension SpectralGateParameters {
    /// The `denoise.*` settings as the gate's parameters (0 ms / 0 Hz smoothing = none).
    init(_ config: DenoiseConfig) {
        self.init(stationary: config.stationary, nFFT: config.nFFT, winLength: config.winLength,
                  hopLength: config.hopLength, propDecrease: config.propDecrease,
                  timeConstantSeconds: config.timeConstantS,
                  freqMaskSmoothHz: config.freqMaskSmoothHz > 0 ? config.freqMaskSmoothHz : nil,
                  timeMaskSmoothMs: config.timeMaskSmoothMs > 0 ? config.timeMaskSmoothMs : nil,
                  threshNMultNonstationary: config.threshNMultNonstationary,
                  sigmoidSlopeNonstationary: config.sigmoidSlopeNonstationary,
                  nStdThreshStationary: config.nStdThreshStationary, chunkSize: config.chunkSize,
                  padding: config.padding, clipNoiseStationary: config.clipNoiseStationary)
    }
}
