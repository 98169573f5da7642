import Configuration
import DSP
import Pipeline

extension PipelineSettings {
    /// The pipeline's settings from the configuration: `capture.sample_rate`, `denoise.*`
    /// (nil when `denoise.enabled` is false; the noise profile only for stationary gating),
    /// `separator.*`, `mel.*`.
    init(config: AgentConfig) {
        self.init(sampleRate: config.capture.sampleRate,
                  denoise: config.denoise.enabled ? SpectralGateParameters(config: config.denoise) : nil,
                  noiseProfile: config.denoise.stationary ? config.denoise.noiseProfile : nil,
                  model: config.separator.model, separatorThreads: config.separator.threads,
                  mel: LogMelParameters(config: config.mel))
    }
}

extension SpectralGateParameters {
    /// The `denoise.*` settings as the gate's parameters (0 ms / 0 Hz smoothing = none).
    init(config: DenoiseConfig) {
        self.init(stationary: config.stationary, nFFT: config.nFFT, winLength: config.winLength,
                  hopLength: config.hopLength, propDecrease: config.propDecrease,
                  timeConstantSeconds: config.timeConstantSeconds,
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
    init(config: MelConfig) {
        self.init(nFFT: config.nFFT, nMels: config.nMels, frames: config.frames, fMin: config.fMin,
                  fMax: config.fMax, topDB: config.topDB)
    }
}
