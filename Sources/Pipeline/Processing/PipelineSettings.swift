import DSP

/// What the pipeline's stages are built from: the sample rate, how denoise runs, the model,
/// the mel stage's parameters. The agent's composition layer fills it from the configuration
/// (`denoise.*`, `separator.*`, `mel.*`, `capture.sample_rate`), which validates every value
/// first; the pipeline takes them as given.
public struct PipelineSettings: Sendable, Equatable {
    /// Samples per second of every segment.
    public var sampleRate: Int
    /// Spectral gating's parameters, or nil when denoise is off.
    public var denoise: SpectralGateParameters?
    /// The stationary gate's noise profile file (`.pt`/`.safetensors`/`.npy` tensor or an audio
    /// file); nil = each segment is its own noise clip, as noisereduce does without `y_noise`.
    public var noiseProfile: String?
    /// The separation model file; nil = no separation (every channel passes through as `mix`).
    public var model: String?
    /// Threads the separator may use; 0 = one per core.
    public var separatorThreads: Int
    /// The mel stage's parameters.
    public var mel: LogMelParameters

    /// Settings from their parts (every default: 16 kHz, stationary denoise without a profile,
    /// no model, torchaudio's mel as the product uses it).
    public init(sampleRate: Int = 16000, denoise: SpectralGateParameters? = SpectralGateParameters(),
                noiseProfile: String? = nil, model: String? = nil, separatorThreads: Int = 0,
                mel: LogMelParameters = LogMelParameters()) {
        self.sampleRate = sampleRate
        self.denoise = denoise
        self.noiseProfile = noiseProfile
        self.model = model
        self.separatorThreads = separatorThreads
        self.mel = mel
    }
}
