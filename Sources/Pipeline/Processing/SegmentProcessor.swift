import Configuration
import DSP
import Dispatch
import Separator
import Synchronization
import TensorFormats

/// Why a segment could not be processed, or a processor not built: one line naming the
/// problem (a configuration key, a file, a count that does not match).
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    /// The one-line reason.
    public var description: String

    /// An error with the given one-line reason.
    public init(_ description: String) { self.description = description }
}

/// How long each stage of one segment took (wall clock, seconds).
public struct StageTimings: Sendable, Equatable {
    /// Spectral gating of every microphone.
    public var denoise: Double = 0
    /// Source separation of every microphone (one batch).
    public var separate: Double = 0
    /// Log-mel of every microphone and source.
    public var mel: Double = 0
    /// All three.
    public var total: Double { denoise + separate + mel }
}

/// The three stages of the product for one segment of every microphone:
/// **denoise** (spectral gating against the site's noise profile) -> **separate** (the Demucs
/// model, or the channel itself as source `mix`) -> **mel** (`[1, n_mels, frames]` log-mel).
///
/// Both cores are used: microphones are denoised and mel-transformed in parallel, and the
/// separator runs all microphones as one batch on OpenBLAS's threads. The processor is built
/// once (model loaded, FFT plans made, noise statistics computed) and reused for every segment.
public final class SegmentProcessor: Sendable {
    /// Samples per second the processor expects.
    public let sampleRate: Int
    /// Microphones per segment.
    public let channels: Int
    /// The source names of the output, in order (`["mix"]` without a model).
    public let sources: [String]
    /// How denoise runs: `off`, `stationary`, `stationary-self` (no profile: each segment is
    /// its own noise clip, as noisereduce does without `y_noise`) or `non-stationary`.
    public let denoiseMode: String

    private let gates: [SpectralGate]?
    private let separator: SourceSeparator?
    private let mel: LogMel

    /// Builds the stages from the configuration.
    ///
    /// - Parameters:
    ///   - noiseClips: one noise clip per microphone (already matched to `channels`), or nil
    ///     when stationary denoise has no profile (then each segment is its own noise clip).
    ///   - separator: the loaded model, or nil for pass-through (`mix`).
    public init(config: AgentConfig, channels: Int, noiseClips: [[Float]]?, separator: SourceSeparator?) throws(PipelineError) {
        let rate = config.capture.sampleRate
        guard channels > 0 else { throw PipelineError("the input has no channels") }
        self.sampleRate = rate
        self.channels = channels
        if let separator {
            guard separator.sampleRate == rate else {
                throw PipelineError("the model runs at \(separator.sampleRate) Hz but capture.sample_rate is \(rate) Hz")
            }
            sources = separator.sources
        } else {
            sources = ["mix"]
        }
        self.separator = separator
        if config.denoise.enabled {
            let parameters = SpectralGateParameters(config.denoise)
            if let noiseClips, parameters.stationary {
                guard noiseClips.count == channels else {
                    throw PipelineError("the noise profile has \(noiseClips.count) channels for \(channels) microphones")
                }
                do {
                    gates = try noiseClips.map { clip throws(DSPError) in
                        try SpectralGate(parameters: parameters, sampleRate: rate, noiseProfile: clip)
                    }
                } catch {
                    throw PipelineError(error.description)
                }
                denoiseMode = "stationary"
            } else {
                do {
                    let gate = try SpectralGate(parameters: parameters, sampleRate: rate, noiseProfile: nil)
                    gates = Array(repeating: gate, count: channels)
                } catch {
                    throw PipelineError(error.description)
                }
                denoiseMode = parameters.stationary ? "stationary-self" : "non-stationary"
            }
        } else {
            gates = nil
            denoiseMode = "off"
        }
        do {
            mel = try LogMel(sampleRate: rate, parameters: LogMelParameters(
                nFFT: config.mel.nFFT, nMels: config.mel.nMels, frames: config.mel.frames,
                fMin: config.mel.fMin, fMax: config.mel.fMax, topDB: config.mel.topDB))
        } catch {
            throw PipelineError(error.description)
        }
    }

    /// Processes one segment: `channelData[mic]` (all of one length) to
    /// `tensors[mic][source]`, each `[1, n_mels, frames]` float32.
    public func process(_ channelData: [[Float]]) throws(PipelineError) -> (tensors: [[Tensor]], timings: StageTimings) {
        guard channelData.count == channels else {
            throw PipelineError("segment has \(channelData.count) channels, the processor expects \(channels)")
        }
        let length = channelData[0].count
        guard channelData.allSatisfy({ $0.count == length }) else { throw PipelineError("channels differ in length") }
        guard length >= mel.minimumLength else {
            throw PipelineError("a segment of \(length) samples is too short for mel.frames \(mel.parameters.frames) and mel.n_fft \(mel.parameters.nFFT)")
        }
        var timings = StageTimings()
        var clock = ContinuousClock.now

        // 1. Denoise, one microphone per worker.
        var clean = channelData
        if let gates {
            let results = Mutex([[Float]](repeating: [], count: channels))
            DispatchQueue.concurrentPerform(iterations: channels) { mic in
                let out = gates[mic].process(channelData[mic])
                results.withLock { $0[mic] = out }
            }
            clean = results.withLock { $0 }
        }
        timings.denoise = Self.seconds(since: &clock)

        // 2. Separate every microphone in one batch: parts[mic][source].
        let parts: [[[Float]]]
        if let separator {
            do {
                parts = try separator.separate(channels: clean)
            } catch {
                throw PipelineError("separate: \(error)")
            }
        } else {
            parts = clean.map { [$0] }
        }
        timings.separate = Self.seconds(since: &clock)

        // 3. Log-mel of every (microphone, source), spread over the workers.
        let jobs = channels * sources.count
        let tensors = Mutex([Tensor?](repeating: nil, count: jobs))
        let failure = Mutex<String?>(nil)
        let shape = [1, mel.parameters.nMels, mel.parameters.frames]
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            let (mic, source) = job.quotientAndRemainder(dividingBy: sources.count)
            do {
                let values = try mel.compute(parts[mic][source])
                tensors.withLock { $0[job] = Tensor(shape: shape, values: values) }
            } catch {
                failure.withLock { $0 = "mel of mic \(mic) \(sources[source]): \(error)" }
            }
        }
        if let message = failure.withLock({ $0 }) { throw PipelineError(message) }
        let flat = tensors.withLock { $0 }.compactMap { $0 }
        timings.mel = Self.seconds(since: &clock)
        let grouped = (0..<channels).map { mic in Array(flat[(mic * sources.count)..<((mic + 1) * sources.count)]) }
        return (grouped, timings)
    }

    private static func seconds(since start: inout ContinuousClock.Instant) -> Double {
        let now = ContinuousClock.now
        let d = now - start
        start = now
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
