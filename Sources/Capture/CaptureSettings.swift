// Capture: multi-microphone capture through ALSA (or a replayed file), cut into gapless segments.

/// A PCM sample format the capture can negotiate with a device and convert to float32.
///
/// Integer samples become `x / 2^(bits-1)`, so full scale maps to [-1, 1).
public enum SampleFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 32-bit IEEE float, little-endian (`FLOAT_LE`): taken bit-exactly.
    case float32 = "FLOAT_LE"
    /// Signed 32-bit little-endian (`S32_LE`).
    case s32 = "S32_LE"
    /// Signed 24-bit in the low three bytes of a 32-bit little-endian container (`S24_LE`).
    case s24 = "S24_LE"
    /// Signed 24-bit packed in three bytes, little-endian (`S24_3LE`), common on USB interfaces.
    case s24Packed = "S24_3LE"
    /// Signed 16-bit little-endian (`S16_LE`).
    case s16 = "S16_LE"

    /// The order tried by default: the most precise format first, so the device's own
    /// resolution is kept (a 24-bit converter delivered as S32 loses nothing).
    public static let preferenceOrder: [SampleFormat] = [.float32, .s32, .s24, .s24Packed, .s16]

    /// Bytes of one sample in the device's buffer.
    public var bytesPerSample: Int {
        switch self {
        case .float32, .s32, .s24: return 4
        case .s24Packed: return 3
        case .s16: return 2
        }
    }

    /// The ALSA name, e.g. `S32_LE`.
    public var description: String { rawValue }
}

/// Everything the capture needs to know: the `capture.*` keys of the configuration plus a few
/// engineering knobs with safe defaults.
public struct CaptureSettings: Sendable, Equatable {
    /// Where the capture's samples come from.
    public enum Source: Sendable, Equatable {
        /// A live ALSA capture PCM, by name (`hw:1,0`, `plughw:CARD=UMC1820`, `default`, or any PCM
        /// defined in the ALSA configuration).
        case alsa(device: String)
        /// An audio file (any format libsndfile reads), decoded once at start and replayed as if it
        /// were captured live (`capture.source: file`).
        case file(path: String)
        /// Interleaved float32 samples already in memory, replayed like a file. For tests and for
        /// callers that decoded audio themselves.
        case samples(interleaved: [Float], sampleRate: Int, channels: Int)
    }

    /// Where the samples come from.
    public var source: Source
    /// Number of microphones (channels). `0` takes the device's maximum (ALSA) or the file's
    /// channel count (file), as the original prototype did.
    public var channels: Int
    /// Samples per second per channel (`capture.sample_rate`, 16000 by default).
    public var sampleRate: Int
    /// Frames in one segment (`capture.segment_seconds` x `sample_rate`).
    public var segmentFrames: Int
    /// Whole segments that may wait for the consumer; when it is full, the newest segment is
    /// dropped (and counted) rather than making the capture wait.
    public var queueDepth: Int
    /// With a file source: start again from the beginning at the end (`capture.loop`).
    public var loop: Bool
    /// With a file source: deliver at the pace of the clock, as a live device would. `false`
    /// replays as fast as possible (tests).
    public var realtime: Bool
    /// Sample formats to try with an ALSA device, in order.
    public var formats: [SampleFormat]
    /// Requested ALSA buffer length in seconds: how long the capture thread may be kept from
    /// running (a busy machine, a swapping neighbour) before samples are lost. The device may
    /// grant less.
    public var bufferSeconds: Double
    /// Requested ALSA period (wake-up interval) in seconds.
    public var periodSeconds: Double
    /// Tests only: the capture thread waits for a free buffer instead of dropping a segment.
    /// ALSA's `null`/`file` test devices have no clock and deliver as fast as the CPU reads,
    /// so without this the number of segments a test sees would depend on thread scheduling.
    /// Never set in the product: capture must not wait for processing.
    var waitForConsumerInTests = false

    /// Settings with the product's defaults for everything not given.
    public init(source: Source, channels: Int = 0, sampleRate: Int = 16000,
                segmentFrames: Int = 160_000, queueDepth: Int = 4, loop: Bool = false,
                realtime: Bool = true, formats: [SampleFormat] = SampleFormat.preferenceOrder,
                bufferSeconds: Double = 2.0, periodSeconds: Double = 0.1) {
        self.source = source
        self.channels = channels
        self.sampleRate = sampleRate
        self.segmentFrames = segmentFrames
        self.queueDepth = queueDepth
        self.loop = loop
        self.realtime = realtime
        self.formats = formats
        self.bufferSeconds = bufferSeconds
        self.periodSeconds = periodSeconds
    }

    /// Refuses impossible values of the capture's own knobs (formats, buffer and period) and
    /// samples that do not make whole frames, with a one-line reason. The `capture.*` keys
    /// (channels, rate, segment length, queue depth, device, file) are validated by the
    /// configuration, where they are defined; impossible ones here are a precondition failure.
    public func validate() throws(CaptureError) {
        precondition(channels >= 0 && sampleRate > 0 && segmentFrames > 0 && queueDepth > 0,
                     "capture settings: channels \(channels), rate \(sampleRate), segment \(segmentFrames), queue \(queueDepth)")
        if formats.isEmpty { throw .invalidSetting("capture formats: at least one sample format is needed") }
        if !(bufferSeconds > 0) || !(periodSeconds > 0) || periodSeconds > bufferSeconds {
            throw .invalidSetting("capture buffer (\(bufferSeconds) s) and period (\(periodSeconds) s) must be positive, period <= buffer")
        }
        switch source {
        case .alsa(let device):
            precondition(!device.isEmpty, "capture.device is empty")
        case .file(let path):
            precondition(!path.isEmpty, "capture.file is empty")
        case .samples(let samples, let rate, let ch):
            if ch <= 0 || rate <= 0 || samples.count % ch != 0 {
                throw .invalidSetting("replayed samples: \(samples.count) values do not make whole frames of \(ch) channels")
            }
        }
    }
}

/// A capture failure, as one line that names what is wrong.
public enum CaptureError: Error, CustomStringConvertible, Equatable {
    /// A setting with an impossible value.
    case invalidSetting(String)
    /// The device could not be opened or configured; the text says which device and why.
    case device(String)
    /// The replayed file could not be used.
    case file(String)
    /// `start()` on a capture that already ran.
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidSetting(let s): return s
        case .device(let s): return s
        case .file(let s): return s
        case .alreadyStarted: return "capture was already started; make a new AudioCapture"
        }
    }
}
