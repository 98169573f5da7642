#if canImport(Glibc)
import Glibc
#endif

/// The parameters of the log-mel stage (`mel.*` in the configuration).
public struct LogMelParameters: Sendable, Equatable {
    /// FFT length (`mel.n_fft`, 2048).
    public var nFFT: Int
    /// Mel bands (`mel.n_mels`, 240).
    public var nMels: Int
    /// Frames kept (`mel.frames`, 240); the hop is `N / (frames - 1)` for N samples.
    public var frames: Int
    /// Lowest filter edge in Hz (`mel.f_min`, 0).
    public var fMin: Double
    /// Highest filter edge in Hz (`mel.f_max`; `nil` = sample rate / 2, integer-halved).
    public var fMax: Double?
    /// Dynamic range below the maximum, in dB (`mel.top_db`, 80; `nil` = unlimited).
    public var topDB: Double?

    /// The product's defaults: a 240 x 240 tensor from a 2048-point STFT, 80 dB of range.
    public init(nFFT: Int = 2048, nMels: Int = 240, frames: Int = 240, fMin: Double = 0, fMax: Double? = nil,
                topDB: Double? = 80) {
        self.nFFT = nFFT
        self.nMels = nMels
        self.frames = frames
        self.fMin = fMin
        self.fMax = fMax
        self.topDB = topDB
    }
}

/// torchaudio's log-mel spectrogram, reproduced: `MelSpectrogram(sample_rate, n_fft,
/// hop_length=N // (frames - 1), n_mels, power=2.0, center=True, pad_mode="reflect", norm=None,
/// mel_scale="htk")` followed by `AmplitudeToDB("power", top_db)`, first `frames` frames kept.
///
/// The top_db floor is taken over every frame torchaudio computes (`1 + N // hop`, which can be
/// one more than `frames`) of this one channel, as it is for a `[1, n_mels, T]` tensor.
/// Immutable and `Sendable`; each thread passes its own `LogMelWorkspace`.
public final class LogMel: Sendable {
    /// The parameters, as given.
    public let parameters: LogMelParameters
    /// The sample rate of the signals.
    public let sampleRate: Int
    /// The mel filter bank, sparse: filter `m` has `weights[m]` on bins `firstBin[m]...`.
    let firstBin: [Int]
    let weights: [[Float]]
    /// torch.stft's framing: centred, reflect-padded, periodic Hann (torch.hann_window).
    let stft: STFT

    /// Prepares the filter bank for signals at `sampleRate`. The parameters come validated
    /// from the configuration (the rules on `mel.*` live in Configuration/Validation.swift);
    /// impossible ones are a precondition failure.
    public init(sampleRate: Int, parameters: LogMelParameters = LogMelParameters()) {
        let p = parameters
        precondition(sampleRate > 0, "sample rate \(sampleRate)")
        precondition(p.nFFT >= 2 && p.nMels >= 1 && p.frames >= 2, "n_fft \(p.nFFT), n_mels \(p.nMels), frames \(p.frames)")
        let fMax = p.fMax ?? Double(sampleRate / 2)
        precondition(p.fMin >= 0 && p.fMin.isFinite && fMax.isFinite && fMax > p.fMin, "f_min \(p.fMin), f_max \(fMax)")
        precondition(p.topDB.map { $0 >= 0 && $0.isFinite } ?? true, "top_db \(p.topDB ?? 0)")
        self.parameters = p
        self.sampleRate = sampleRate
        let bank = LogMel.filterBank(bins: p.nFFT / 2 + 1, fMin: p.fMin, fMax: fMax, nMels: p.nMels,
                                     sampleRate: sampleRate)
        self.firstBin = bank.firstBin
        self.weights = bank.weights
        self.stft = STFT(nFFT: p.nFFT, hop: 1, center: true, padding: .reflect)
    }

    /// The hop for a segment of `length` samples: `length / (frames - 1)`.
    public func hop(forLength length: Int) -> Int { length / (parameters.frames - 1) }

    /// The number of samples a segment needs at least: a hop of one sample and more samples
    /// than the reflect padding mirrors (`n_fft / 2 + 1`).
    public var minimumLength: Int { max(parameters.frames - 1, parameters.nFFT / 2 + 1) }

    /// The log-mel spectrogram of one channel: `nMels * frames` values, `[nMels, frames]`
    /// row-major, in dB.
    public func compute(_ channel: [Float]) throws(DSPError) -> [Float] {
        try compute(channel, workspace: LogMelWorkspace())
    }

    /// As `compute(_:)`, with a workspace the caller keeps (one per thread).
    public func compute(_ channel: [Float], workspace: LogMelWorkspace) throws(DSPError) -> [Float] {
        var result = [Float](repeating: 0, count: parameters.nMels * parameters.frames)
        try channel.withUnsafeBufferPointer { (source) throws(DSPError) in
            try result.withUnsafeMutableBufferPointer { (output) throws(DSPError) in
                try compute(source, into: output, workspace: workspace)
            }
        }
        return result
    }

    /// Computes the log-mel spectrogram of `channel` into `output` (`nMels * frames` floats).
    /// - Throws: `DSPError.invalidInput` when the channel is shorter than `minimumLength`.
    public func compute(_ channel: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                        workspace: LogMelWorkspace) throws(DSPError) {
        let p = parameters
        precondition(output.count == p.nMels * p.frames, "output must hold nMels * frames values")
        let n = channel.count
        guard n >= minimumLength else {
            throw .invalidInput("a segment of \(n) samples is too short for the mel stage "
                                + "(at least \(minimumLength) samples with n_fft \(p.nFFT) and \(p.frames) frames)")
        }
        let hop = hop(forLength: n)
        let total = 1 + n / hop  // torch.stft's frame count with center=True
        let bins = stft.bins
        let stride = stft.alignedRowStride
        let spectra = workspace.stft.output(count: total * stride)
        stft.forward(channel, frames: 0..<total, hop: hop, into: spectra, rowStride: stride, workspace: workspace.stft)
        let power = workspace.power.reserve(bins)
        let out = output.baseAddress!
        var maxPower: Float = 0
        for k in 0..<total {
            let spectrum = spectra + k * stride
            for f in 0..<bins {
                let re = spectrum[2 * f], im = spectrum[2 * f + 1]
                power[f] = re * re + im * im
            }
            for m in 0..<p.nMels {
                var sum: Float = 0
                weights[m].withUnsafeBufferPointer { wm in
                    let base = power + firstBin[m]
                    for j in 0..<wm.count { sum += wm[j] * base[j] }
                }
                maxPower = max(maxPower, sum)
                if k < p.frames { out[m * p.frames + k] = sum }
            }
        }
        // AmplitudeToDB("power"): 10 log10(max(x, 1e-10)), floored at the maximum - top_db.
        let amin: Float = 1e-10
        var floor = -Float.infinity
        if let top = p.topDB {
            floor = 10 * log10(max(maxPower, amin)) - Float(top)
        }
        // A vectorizable log10 (FastMath), a few ulps from glibc's: 1e-5 dB at most.
        var i = 0
        let count = p.nMels * p.frames
        while i < count {
            out[i] = max(10 * FastMath.log10(max(out[i], amin)), floor)
            i &+= 1
        }
    }

    /// torchaudio's `melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm=None,
    /// mel_scale="htk")` in float32 as torch computes it (its linspace, then the triangle
    /// slopes), stored sparse.
    static func filterBank(bins: Int, fMin: Double, fMax: Double, nMels: Int, sampleRate: Int)
        -> (firstBin: [Int], weights: [[Float]])
    {
        let allFreqs = torchLinspace(0, Float(sampleRate / 2), bins)
        let mMin = 2595.0 * log10(1.0 + fMin / 700.0)
        let mMax = 2595.0 * log10(1.0 + fMax / 700.0)
        let mPts = torchLinspace(Float(mMin), Float(mMax), nMels + 2)
        let fPts = mPts.map { m -> Float in Float(700.0) * (powf(10.0, m / Float(2595.0)) - 1.0) }
        var firstBin: [Int] = []
        var weights: [[Float]] = []
        for m in 0..<nMels {
            let downDiff = fPts[m + 1] - fPts[m]
            let upDiff = fPts[m + 2] - fPts[m + 1]
            var first = -1
            var row: [Float] = []
            for i in 0..<bins {
                let down = (-1.0 * (fPts[m] - allFreqs[i])) / downDiff
                let up = (fPts[m + 2] - allFreqs[i]) / upDiff
                let w = max(0, min(down, up))
                if w > 0 {
                    if first < 0 { first = i }
                    // Zeros between nonzero weights cannot occur (a triangle), but keep the span dense.
                    row.append(contentsOf: repeatElement(0, count: i - first - row.count))
                    row.append(w)
                }
            }
            firstBin.append(max(first, 0))
            weights.append(row)
        }
        return (firstBin, weights)
    }

    /// torch.linspace in float32: the first half counts up from `start`, the second half down
    /// from `end`, with a float32 step.
    static func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return steps == 1 ? [start] : [] }
        let step = (end - start) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in i < halfway ? start + step * Float(i) : end - step * Float(steps - i - 1) }
    }
}

/// Scratch memory of one thread's `LogMel.compute` calls. Not thread-safe: one per thread.
public final class LogMelWorkspace {
    let stft = STFTWorkspace()
    var power = Scratch<Float>()

    /// An empty workspace; buffers grow on first use.
    public init() {}

    deinit {
        power.release()
    }
}
