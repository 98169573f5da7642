/// A short-time Fourier transform with torch.stft's framing: frame `k` starts at `k * hop` of
/// the signal padded by `nFFT / 2` on both sides (`center`, reflect or zero padding), is
/// multiplied by a window of `nFFT` samples and transformed by FFTW (plans made once).
///
/// Immutable and `Sendable`; each thread passes its own `STFTWorkspace`.
public final class STFT: Sendable {
    /// How `center` pads the signal's ends.
    public enum Padding: Sendable, Equatable {
        /// `x[pad], ..., x[1] | x | x[N-2], ..., x[N-1-pad]` (torch's and librosa's default).
        case reflect
        /// Zeros.
        case zeros
    }

    /// FFT length (and window length).
    public let nFFT: Int
    /// Samples between frame starts.
    public let hop: Int
    /// Frames centred on `k * hop` (the signal padded by `nFFT / 2`) or starting there.
    public let center: Bool
    /// The padding of a centred transform.
    public let padding: Padding
    /// Complex bins per frame, `nFFT / 2 + 1`.
    public var bins: Int { fft.bins }
    /// The analysis window.
    public let window: [Float]
    /// FFTW's complex transform of nFFT/2 points plus the real split (see HalfSizeRealFFT:
    /// twice as fast as FFTW's own r2c at 2048 points).
    let fft: HalfSizeRealFFT

    /// A transform of `nFFT` points every `hop` samples; `window` defaults to the periodic Hann
    /// window (torch.hann_window).
    public init(nFFT: Int, hop: Int, window: [Float]? = nil, center: Bool = true,
                padding: Padding = .reflect) {
        precondition(nFFT >= 2 && hop >= 1, "STFT needs nFFT >= 2 and hop >= 1")
        let window = window ?? Window.hann(nFFT, periodic: true)
        precondition(window.count == nFFT, "the window must have nFFT samples")
        self.nFFT = nFFT
        self.hop = hop
        self.center = center
        self.padding = padding
        self.window = window
        self.fft = HalfSizeRealFFT(size: nFFT, planning: .measure)
    }

    /// Whether a signal of `length` samples can be transformed (reflect padding needs more
    /// samples than it mirrors, as torch requires).
    public func accepts(length: Int) -> Bool {
        if !center { return length >= nFFT }
        return padding == .zeros ? length >= 1 : length > nFFT / 2
    }

    /// Transforms frames `frames` of `signal` (with `hop`, default the transform's own: a
    /// segment-dependent hop like the mel stage's needs no new plan). Frame `k`'s bins go to
    /// `output + (k - frames.lowerBound) * rowStride` as interleaved (re, im) pairs; `rowStride`
    /// (floats) must be at least `2 * bins` and keep rows 16-byte aligned, and `output` must be
    /// 64-byte aligned (see `alignedRowStride`).
    public func forward(_ signal: UnsafeBufferPointer<Float>, frames: Range<Int>, hop: Int? = nil,
                        into output: UnsafeMutablePointer<Float>, rowStride: Int, workspace: STFTWorkspace) {
        precondition(accepts(length: signal.count), "signal too short for this STFT")
        precondition(rowStride >= 2 * bins && rowStride % 4 == 0)
        let hop = hop ?? self.hop
        precondition(hop >= 1 && frames.lowerBound >= 0
                     && (frames.isEmpty || frames.upperBound <= 1 + (signal.count - (center ? 0 : nFFT)) / hop),
                     "frames out of range")
        let padded = workspace.prepare(signal, stft: self)
        let frame = workspace.frame.reserve(nFFT)
        let scratch = workspace.fftScratch.reserve(fft.scratchCount)
        window.withUnsafeBufferPointer { w in
            for k in frames {
                let start = padded + k * hop
                var i = 0
                while i < nFFT {
                    frame[i] = start[i] * w[i]
                    i &+= 1
                }
                fft.forward(frame, output + (k - frames.lowerBound) * rowStride, scratch: scratch)
            }
        }
    }

    /// A row stride (floats) for `forward`'s output that keeps every row aligned.
    public var alignedRowStride: Int { alignedStride(2 * bins) }

}

/// Scratch memory of one thread's STFT calls (the padded signal and a frame).
public final class STFTWorkspace {
    var paddedSignal = Scratch<Float>()
    var frame = Scratch<Float>()
    var fftScratch = Scratch<Float>()
    var spectra = Scratch<Float>()

    /// An empty workspace; buffers grow on first use.
    public init() {}

    deinit {
        paddedSignal.release()
        frame.release()
        fftScratch.release()
        spectra.release()
    }

    /// A 64-byte aligned buffer of `count` floats owned by this workspace (valid until the next
    /// call asking for it).
    public func output(count: Int) -> UnsafeMutablePointer<Float> { spectra.reserve(count) }

    /// The signal as the STFT frames it: padded by nFFT/2 at both ends when centred.
    func prepare(_ signal: UnsafeBufferPointer<Float>, stft: STFT) -> UnsafeMutablePointer<Float> {
        let n = signal.count
        let pad = stft.center ? stft.nFFT / 2 : 0
        let buffer = paddedSignal.reserve(n + 2 * pad + stft.nFFT)
        let src = signal.baseAddress!
        (buffer + pad).update(from: src, count: n)
        if pad > 0 {
            switch stft.padding {
            case .reflect:
                for i in 0..<pad {
                    buffer[pad - 1 - i] = src[i + 1]
                    buffer[pad + n + i] = src[n - 2 - i]
                }
            case .zeros:
                buffer.update(repeating: 0, count: pad)
                (buffer + pad + n).update(repeating: 0, count: pad)
            }
        }
        // Slack so a frame never reads past the buffer.
        (buffer + n + 2 * pad).update(repeating: 0, count: stft.nFFT)
        return buffer
    }
}
