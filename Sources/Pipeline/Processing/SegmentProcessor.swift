import DSP
import Dispatch
import Foundation
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
    /// Source separation of every microphone.
    public var separate: Double = 0
    /// Log-mel of every microphone and source.
    public var mel: Double = 0
    /// All three.
    public var total: Double { denoise + separate + mel }

    /// Zero for every stage.
    public init() {}
}

/// The three stages of the product for one segment of every microphone:
/// **denoise** (spectral gating against the site's noise profile) -> **separate** (the Demucs
/// model, or the channel itself as source `mix`) -> **mel** (`[1, n_mels, frames]` log-mel).
///
/// Both cores are used: microphones are denoised and mel-transformed in parallel, and the
/// separator runs one microphone per thread. The processor is built
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
    /// Per-worker workspaces, made on first use and reused for every segment after.
    private let denoiseWorkspaces = WorkspacePool<SpectralGateWorkspace>(make: SpectralGateWorkspace.init)
    private let melWorkspaces = WorkspacePool<LogMelWorkspace>(make: LogMelWorkspace.init)

    /// Builds the stages.
    ///
    /// - Parameters:
    ///   - noiseClips: one noise clip per microphone (already matched to `channels`), or nil
    ///     when stationary denoise has no profile (then each segment is its own noise clip).
    ///   - separator: the loaded model, or nil for pass-through (`mix`).
    public init(settings: PipelineSettings, channels: Int, noiseClips: [[Float]]?, separator: SourceSeparator?) throws(PipelineError) {
        let rate = settings.sampleRate
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
        if let parameters = settings.denoise {
            if let noiseClips, parameters.stationary {
                guard noiseClips.count == channels else {
                    throw PipelineError("the noise profile has \(noiseClips.count) channels for \(channels) microphones")
                }
                do {
                    gates = try noiseClips.map { clip throws(DSPError) in
                        try SpectralGate(parameters: parameters, sampleRate: rate, noiseProfile: clip)
                    }
                } catch {
                    throw PipelineError("denoise.noise_profile: \(error.description)")
                }
                denoiseMode = "stationary"
            } else {
                do {
                    let gate = try SpectralGate(parameters: parameters, sampleRate: rate, noiseProfile: nil)
                    gates = Array(repeating: gate, count: channels)
                } catch {
                    throw PipelineError("denoise: \(error.description)")
                }
                denoiseMode = parameters.stationary ? "stationary-self" : "non-stationary"
            }
        } else {
            gates = nil
            denoiseMode = "off"
        }
        mel = LogMel(sampleRate: rate, parameters: settings.mel)
    }

    /// Processes one segment: `channelData[mic]` (all of one length) to
    /// `tensors[mic][source]`, each `[1, n_mels, frames]` float32.
    public func process(_ channelData: [[Float]]) throws(PipelineError) -> (tensors: [[Tensor]], timings: StageTimings) {
        guard channelData.count == channels else {
            throw PipelineError("segment has \(channelData.count) channels, the processor expects \(channels)")
        }
        let length = channelData[0].count
        guard channelData.allSatisfy({ $0.count == length }) else { throw PipelineError("channels differ in length") }
        var timings = StageTimings()
        var clock = ContinuousClock.now
        let clean = denoise(channelData)
        timings.denoise = Self.seconds(since: &clock)

        // Separate every microphone (one per thread): parts[mic][source].
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

        let flat = try logMel(parts.flatMap { $0 })
        timings.mel = Self.seconds(since: &clock)
        let grouped = (0..<channels).map { mic in Array(flat[(mic * sources.count)..<((mic + 1) * sources.count)]) }
        return (grouped, timings)
    }

    /// The denoise stage alone: every channel gated on its own (one worker per core, a
    /// workspace per worker); the channels unchanged when `denoise.enabled` is false.
    public func denoise(_ channelData: [[Float]]) -> [[Float]] {
        guard let gates else { return channelData }
        precondition(channelData.count == gates.count, "one gate per channel")
        let results = Mutex([[Float]](repeating: [], count: channelData.count))
        Self.forEachItem(count: channelData.count, workspaces: denoiseWorkspaces) { index, workspace in
            let out = gates[index].process(channelData[index], workspace: workspace)
            results.withLock { $0[index] = out }
        }
        return results.withLock { $0 }
    }

    /// The mel stage alone: each signal (any number, each at least `minimumMelLength`
    /// samples) becomes a `[1, n_mels, frames]` tensor, spread over the cores.
    public func logMel(_ signals: [[Float]]) throws(PipelineError) -> [Tensor] {
        if let short = signals.first(where: { $0.count < mel.minimumLength }) {
            throw PipelineError("\(short.count) samples are too few for the mel stage (at least \(mel.minimumLength) with mel.n_fft \(mel.parameters.nFFT) and mel.frames \(mel.parameters.frames))")
        }
        let shape = [1, mel.parameters.nMels, mel.parameters.frames]
        let results = Mutex([Tensor?](repeating: nil, count: signals.count))
        let failure = Mutex<String?>(nil)
        Self.forEachItem(count: signals.count, workspaces: melWorkspaces) { index, workspace in
            do {
                let values = try mel.compute(signals[index], workspace: workspace)
                results.withLock { $0[index] = Tensor(shape: shape, values: values) }
            } catch {
                failure.withLock { $0 = "mel: \(error)" }
            }
        }
        if let message = failure.withLock({ $0 }) { throw PipelineError(message) }
        return results.withLock { $0 }.compactMap { $0 }
    }

    /// Threads the separator runs on (`separator.threads`, 0 resolved to the cores), or nil
    /// without a model.
    public var separatorThreads: Int? { separator?.threads }

    /// The shortest input the mel stage takes.
    public var minimumMelLength: Int { mel.minimumLength }

    /// Runs `body(item, workspace)` for every item in `0..<count` on one worker per core;
    /// each worker borrows one workspace from `workspaces` for its items.
    private static func forEachItem<Workspace>(count: Int, workspaces: WorkspacePool<Workspace>,
                                               _ body: @Sendable (Int, Workspace) -> Void) {
        let workers = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            workspaces.borrow { space in
                for item in stride(from: worker, to: count, by: workers) { body(item, space) }
            }
        }
    }

    private static func seconds(since start: inout ContinuousClock.Instant) -> Double {
        let now = ContinuousClock.now
        let d = now - start
        start = now
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
