import TensorFormats

// The agent's settings, one value type per section of `config/acoustic-edge.yaml`.
// Every property's default is the default of docs/contract.md (or of the library the stage
// reproduces); `AgentConfig()` is the configuration of an empty file.

/// The whole configuration of the agent: one value per section of the YAML file.
///
/// Build it with `AgentConfig.load(path:)` or `AgentConfig.parse(yaml:)`, which refuse an
/// unknown key, a wrong type or an impossible value with a `ConfigError`; `AgentConfig()`
/// holds every default. A configuration changed in code can be checked with `validate()`.
public struct AgentConfig: Sendable, Equatable {
    /// Where the sound comes from and how it is cut into segments (`capture:`).
    public var capture = CaptureConfig()
    /// Spectral-gating noise reduction, the algorithm of noisereduce 3.0.3 (`denoise:`).
    public var denoise = DenoiseConfig()
    /// The Demucs source-separation model (`separator:`).
    public var separator = SeparatorConfig()
    /// The log-mel spectrogram, as torchaudio computes it (`mel:`).
    public var mel = MelConfig()
    /// The disk mirror of the tensors (`output:`).
    public var output = OutputConfig()
    /// Delivery over MQTT (`mqtt:`).
    public var mqtt = MQTTConfig()
    /// The Prometheus endpoint (`metrics:`).
    public var metrics = MetricsConfig()
    /// What the agent logs (`logging:`).
    public var logging = LoggingConfig()

    /// Every setting at its default.
    public init() {}
}

/// Where a `run` takes its sound from.
public enum CaptureSource: String, Sendable, Equatable, CaseIterable {
    /// A live ALSA capture device.
    case alsa
    /// An audio file replayed in real time, as if it were captured live.
    case file
}

/// `capture:` where the sound comes from and how it is cut into segments.
public struct CaptureConfig: Sendable, Equatable {
    /// `capture.source`: `alsa` (a live device) or `file` (replay `file` in real time).
    public var source: CaptureSource = .alsa
    /// `capture.device`: the ALSA PCM name (`default`, `hw:1,0`, `plughw:CARD=UMC1820`...).
    public var device: String = "default"
    /// `capture.file`: the audio file replayed with `source: file`; nil when unset.
    public var file: String? = nil
    /// `capture.channels`: microphones to capture; 0 = the device's maximum.
    public var channels: Int = 0
    /// `capture.sample_rate`: samples per second per channel.
    public var sampleRate: Int = 16000
    /// `capture.segment_seconds`: the length of a segment; `sampleRate * segmentSeconds`
    /// is a whole number of samples.
    public var segmentSeconds: Double = 10
    /// `capture.loop`: with `source: file`, replay the file again and again.
    public var loop: Bool = false
    /// `capture.queue_depth`: segments that may wait for processing; when processing falls
    /// further behind, whole segments are dropped (and counted).
    public var queueDepth: Int = 4

    /// Every setting at its default.
    public init() {}

    /// Samples per channel in one segment (`sampleRate * segmentSeconds`, rounded).
    public var segmentSamples: Int { Int((Double(sampleRate) * segmentSeconds).rounded()) }
}

/// `denoise:` spectral gating against the site's noise profile, with noisereduce's
/// parameters (`noisereduce.reduce_noise`, version 3.0.3) under their Python names.
public struct DenoiseConfig: Sendable, Equatable {
    /// `denoise.enabled`: run the denoise stage at all.
    public var enabled: Bool = true
    /// `denoise.noise_profile`: a `.pt` noise profile (from `calibrate`) or an audio file of
    /// the site's ambient noise; nil = none (stationary gating then estimates the noise
    /// from the segment itself, as noisereduce does without `y_noise`).
    public var noiseProfile: String? = nil
    /// `denoise.stationary`: stationary gating (a fixed threshold from the noise profile);
    /// false = non-stationary gating (a threshold that follows the signal, no profile needed).
    public var stationary: Bool = true
    /// `denoise.n_fft`: STFT length.
    public var nFFT: Int = 1024
    /// `denoise.win_length`: STFT window length; nil = `nFFT`.
    public var winLength: Int? = nil
    /// `denoise.hop_length`: STFT hop; nil = `effectiveWinLength / 4`.
    public var hopLength: Int? = nil
    /// `denoise.n_std_thresh_stationary`: standard deviations above the noise mean that count
    /// as signal (stationary).
    public var nStdThreshStationary: Double = 1.5
    /// `denoise.thresh_n_mult_nonstationary`: how many times the smoothed level counts as
    /// signal (non-stationary).
    public var threshNMultNonstationary: Double = 2
    /// `denoise.sigmoid_slope_nonstationary`: steepness of the non-stationary mask.
    public var sigmoidSlopeNonstationary: Double = 10
    /// `denoise.prop_decrease`: how much of the noise is removed, 0...1.
    public var propDecrease: Double = 1.0
    /// `denoise.time_mask_smooth_ms`: mask smoothing along time, milliseconds (0 = none).
    public var timeMaskSmoothMs: Double = 50
    /// `denoise.freq_mask_smooth_hz`: mask smoothing along frequency, hertz (0 = none).
    public var freqMaskSmoothHz: Double = 500
    /// `denoise.time_constant_s`: the non-stationary smoothing time constant, seconds.
    public var timeConstantSeconds: Double = 2.0
    /// `denoise.clip_noise_stationary`: clip the noise profile to the signal's length.
    public var clipNoiseStationary: Bool = true
    /// `denoise.chunk_size`: samples processed at once.
    public var chunkSize: Int = 600_000
    /// `denoise.padding`: samples of context on each side of a chunk.
    public var padding: Int = 30_000

    /// Every setting at its default.
    public init() {}

    /// The window length in use: `winLength`, or `nFFT` when unset (as noisereduce does).
    public var effectiveWinLength: Int { winLength ?? nFFT }
    /// The hop in use: `hopLength`, or a quarter of the window when unset (as noisereduce does).
    public var effectiveHopLength: Int { hopLength ?? effectiveWinLength / 4 }
    /// The width of one frequency bin of the mask at `sampleRate`, hertz (noisereduce's
    /// `sr / (n_fft / 2)`).
    public func binHertz(sampleRate: Int) -> Double { Double(sampleRate) / (Double(nFFT) / 2) }
    /// The length of one hop at `sampleRate`, milliseconds.
    public func hopMilliseconds(sampleRate: Int) -> Double { Double(effectiveHopLength) / Double(sampleRate) * 1000 }
}

/// `separator:` the Demucs model that splits a channel into machine parts.
public struct SeparatorConfig: Sendable, Equatable {
    /// `separator.model`: the model file (demucs' safetensors format); nil (or an empty
    /// string in the file) = no separation, every channel passes through as source `mix`.
    public var model: String? = nil
    /// `separator.threads`: threads for the separation; 0 = one per CPU core.
    public var threads: Int = 0

    /// Every setting at its default.
    public init() {}
}

/// `mel:` the log-mel spectrogram, as torchaudio's `MelSpectrogram` + `AmplitudeToDB`.
public struct MelConfig: Sendable, Equatable {
    /// `mel.n_mels`: mel bands (tensor rows).
    public var nMels: Int = 240
    /// `mel.frames`: time frames kept (tensor columns); the hop is
    /// `segmentSamples / (frames - 1)`, rounded down.
    public var frames: Int = 240
    /// `mel.n_fft`: STFT length.
    public var nFFT: Int = 2048
    /// `mel.top_db`: dynamic range kept below the segment's maximum, decibels.
    public var topDB: Double = 80
    /// `mel.f_min`: lowest frequency of the mel filter bank, hertz.
    public var fMin: Double = 0
    /// `mel.f_max`: highest frequency of the mel filter bank, hertz; nil = `sampleRate / 2`.
    public var fMax: Double? = nil

    /// Every setting at its default.
    public init() {}
}

/// `output:` the disk mirror `{dir}/{YYYY-MM-DD_HH-MM-SS}/mic_{i}/{source}.pt`.
public struct OutputConfig: Sendable, Equatable {
    /// `output.dir`: the mirror's root folder.
    public var dir: String = "output"
    /// `output.enabled`: write the mirror at all.
    public var enabled: Bool = true
    /// `output.max_bytes`: the mirror's size limit, oldest segments removed first; 0 = no limit.
    public var maxBytes: Int = 0
    /// `output.max_age`: segments older than this many seconds are removed; 0 = keep forever.
    public var maxAge: Double = 0

    /// Every setting at its default.
    public init() {}
}

/// `mqtt.tls:` transport security towards the broker.
public struct MQTTTLSConfig: Sendable, Equatable {
    /// `mqtt.tls.enabled`: connect over TLS.
    public var enabled: Bool = false
    /// `mqtt.tls.ca_file`: the CA certificate(s) that sign the broker's certificate;
    /// nil = the system's store (`/etc/ssl/certs`).
    public var caFile: String? = nil
    /// `mqtt.tls.cert_file`: the agent's client certificate (with `key_file`); nil = none.
    public var certFile: String? = nil
    /// `mqtt.tls.key_file`: the client certificate's private key; nil = none.
    public var keyFile: String? = nil
    /// `mqtt.tls.insecure`: skip the check that the broker's certificate names `host`
    /// (testing only).
    public var insecure: Bool = false

    /// Every setting at its default.
    public init() {}
}

/// `mqtt.spool:` the bounded on-disk queue that keeps tensors through a broker outage.
public struct MQTTSpoolConfig: Sendable, Equatable {
    /// `mqtt.spool.dir`: the spool's folder.
    public var dir: String = "spool"
    /// `mqtt.spool.max_bytes`: the spool's size limit; beyond it the oldest messages are
    /// dropped (and counted).
    public var maxBytes: Int = 256 * 1024 * 1024
    /// `mqtt.spool.memory_bytes`: the memory reserve for messages the spool's disk refuses
    /// (full, read-only): they are delivered from memory; what does not fit is lost and counted.
    public var memoryBytes: Int = 32 * 1024 * 1024
    /// `mqtt.spool.drain_rate`: messages per second the backlog may use while it drains after
    /// an outage (live tensors always go first); 0 = unlimited.
    public var drainRate: Double = 0

    /// Every setting at its default.
    public init() {}
}

/// `mqtt.payload_dtype`: the element type of the tensors in MQTT payloads.
public enum PayloadDType: String, Sendable, Equatable, CaseIterable {
    /// IEEE 754 binary32, as computed.
    case float32
    /// IEEE 754 binary16: half the bytes (mel dB values keep about 3 significant digits).
    case float16
}

/// `mqtt:` delivery of the tensors, status and commands over MQTT v5.
public struct MQTTConfig: Sendable, Equatable {
    /// `mqtt.enabled`: publish at all.
    public var enabled: Bool = true
    /// `mqtt.host`: the broker's host name or address.
    public var host: String = "127.0.0.1"
    /// `mqtt.port`: the broker's port (1883 plain, 8883 is the usual TLS port).
    public var port: Int = 1883
    /// `mqtt.client_id`: the MQTT client identifier; nil = `acoustic-edge-<hostname>`.
    public var clientID: String? = nil
    /// `mqtt.topic_prefix`: the topic path every topic starts with (`plant`, `plant/line3/node7`).
    public var topicPrefix: String = "plant"
    /// `mqtt.qos`: the QoS of tensor messages, 0, 1 or 2.
    public var qos: Int = 1
    /// `mqtt.payload`: the encoding of the tensors.
    public var payload: TensorFormat = .pt
    /// `mqtt.payload_dtype`: the element type of the tensors in the payload (the mirror stays
    /// float32).
    public var payloadDType: PayloadDType = .float32
    /// `mqtt.message_expiry`: MQTT v5 message expiry interval of tensor messages in seconds,
    /// counted from when the tensor was made; 0 = never expires.
    public var messageExpiry: Int = 0
    /// `mqtt.keepalive`: seconds between keep-alive pings.
    public var keepalive: Int = 60
    /// `mqtt.username`: the user name; nil = anonymous.
    public var username: String? = nil
    /// `mqtt.password_file`: a file whose first line is the password; nil = none.
    public var passwordFile: String? = nil
    /// `mqtt.password_env`: an environment variable holding the password; nil = none.
    public var passwordEnv: String? = nil
    /// `mqtt.tls`: transport security.
    public var tls = MQTTTLSConfig()
    /// `mqtt.spool`: the on-disk queue for broker outages.
    public var spool = MQTTSpoolConfig()

    /// Every setting at its default.
    public init() {}
}

/// `metrics:` Prometheus text exposition at `/metrics`.
public struct MetricsConfig: Sendable, Equatable {
    /// `metrics.port`: the HTTP port of `/metrics`; 0 = no endpoint.
    public var port: Int = 0
    /// `metrics.address`: the address the endpoint listens on.
    public var address: String = "0.0.0.0"

    /// Every setting at its default.
    public init() {}
}

/// The severity levels of swift-log, from the most verbose.
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    /// Everything, including per-segment detail.
    case trace
    /// Diagnostic detail.
    case debug
    /// Normal operation.
    case info
    /// Noteworthy events.
    case notice
    /// Something went wrong and was recovered from.
    case warning
    /// Something failed.
    case error
    /// The agent cannot go on.
    case critical
}

/// `logging:` what the agent logs.
public struct LoggingConfig: Sendable, Equatable {
    /// `logging.level`: the least severe level that is logged.
    public var level: LogLevel = .info

    /// Every setting at its default.
    public init() {}
}
