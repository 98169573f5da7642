/// The parameters of spectral gating, named and defaulted as noisereduce 3.0.3's
/// `reduce_noise` names and defaults them (`denoise.*` in the configuration).
public struct SpectralGateParameters: Sendable, Equatable {
    /// Stationary gating (thresholds from a noise clip's dB statistics, `stationary=True`) or
    /// non-stationary gating (thresholds from a running mean of the signal itself).
    public var stationary: Bool
    /// FFT length of the STFT (`n_fft`, 1024).
    public var nFFT: Int
    /// Window length (`win_length`; `nil` = `nFFT`). Frames of this length are Hann-windowed
    /// and zero-padded at the end to `nFFT`.
    public var winLength: Int?
    /// Hop between STFT frames (`hop_length`; `nil` = window length / 4).
    public var hopLength: Int?
    /// How much of the gated noise is removed, 0...1 (`prop_decrease`, 1.0).
    public var propDecrease: Double
    /// Time constant of the non-stationary noise floor in seconds (`time_constant_s`, 2.0).
    public var timeConstantSeconds: Double
    /// Width of the mask smoothing across frequency in Hz (`freq_mask_smooth_hz`, 500;
    /// `nil` = none).
    public var freqMaskSmoothHz: Double?
    /// Width of the mask smoothing across time in ms (`time_mask_smooth_ms`, 50; `nil` = none).
    public var timeMaskSmoothMs: Double?
    /// Non-stationary: how many times above its running mean a bin must be to pass
    /// (`thresh_n_mult_nonstationary`, 2).
    public var threshNMultNonstationary: Double
    /// Non-stationary: slope of the sigmoid that makes the mask (`sigmoid_slope_nonstationary`, 10).
    public var sigmoidSlopeNonstationary: Double
    /// Stationary: standard deviations of the noise dB above its mean where the gate opens
    /// (`n_std_thresh_stationary`, 1.5).
    public var nStdThreshStationary: Double
    /// Signals longer than this are processed in chunks of this many samples (`chunk_size`,
    /// 600000; `nil` = one chunk). It changes the result: each chunk has its own statistics.
    public var chunkSize: Int?
    /// Samples of context (zeros at the signal's ends) around each chunk (`padding`, 30000).
    public var padding: Int
    /// Stationary: use only the first `chunkSize` samples of the noise clip
    /// (`clip_noise_stationary`, true).
    public var clipNoiseStationary: Bool

    /// The library's defaults, stationary or not.
    public init(stationary: Bool = true, nFFT: Int = 1024, winLength: Int? = nil, hopLength: Int? = nil,
                propDecrease: Double = 1.0, timeConstantSeconds: Double = 2.0,
                freqMaskSmoothHz: Double? = 500, timeMaskSmoothMs: Double? = 50,
                threshNMultNonstationary: Double = 2, sigmoidSlopeNonstationary: Double = 10,
                nStdThreshStationary: Double = 1.5, chunkSize: Int? = 600_000, padding: Int = 30_000,
                clipNoiseStationary: Bool = true) {
        self.stationary = stationary
        self.nFFT = nFFT
        self.winLength = winLength
        self.hopLength = hopLength
        self.propDecrease = propDecrease
        self.timeConstantSeconds = timeConstantSeconds
        self.freqMaskSmoothHz = freqMaskSmoothHz
        self.timeMaskSmoothMs = timeMaskSmoothMs
        self.threshNMultNonstationary = threshNMultNonstationary
        self.sigmoidSlopeNonstationary = sigmoidSlopeNonstationary
        self.nStdThreshStationary = nStdThreshStationary
        self.chunkSize = chunkSize
        self.padding = padding
        self.clipNoiseStationary = clipNoiseStationary
    }
}
