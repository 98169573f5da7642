import Configuration
import DSP

extension SpectralGateParameters {
    /// The `denoise.*` settings as the gate's parameters (0 ms / 0 Hz smoothing = none).
    public init(_ config: DenoiseConfig) {
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

extension LogMelParameters {
    /// The `mel.*` settings as the mel stage's parameters.
    public init(_ config: MelConfig) {
        self.init(nFFT: config.nFFT, nMels: config.nMels, frames: config.frames, fMin: config.fMin,
                  fMax: config.fMax, topDB: config.topDB)
    }
}
