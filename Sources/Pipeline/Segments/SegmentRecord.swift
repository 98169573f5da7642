/// What `segment.json` says about one segment: when it started (capture clock), where it
/// lies in the sample stream, and what produced its tensors. The same facts travel as MQTT
/// user properties and safetensors metadata.
public struct SegmentRecord: Sendable, Equatable, Codable {
    /// The segment's index in its stream (0, 1, 2, ...).
    public var segmentIndex: Int
    /// The first sample's index in the stream (frames since the stream started).
    public var firstSample: Int64
    /// The first sample's wall-clock time (UTC), ISO 8601 with milliseconds.
    public var start: String
    /// Samples per second.
    public var sampleRate: Int
    /// Frames in the segment.
    public var frames: Int
    /// Microphones (channels).
    public var channels: Int
    /// Source names, in the model's order (`mix` without a model).
    public var sources: [String]
    /// The separation model's file name (nil without a model).
    public var model: String?
    /// The SHA-256 of the model file, hex (nil without a model).
    public var modelSHA256: String?
    /// The noise profile's path (nil when denoise is off or non-stationary without profile).
    public var noiseProfile: String?
    /// Whether denoise ran, and in which mode.
    public var denoise: String
    /// True when the capture overran during this segment (samples may be missing).
    public var overrun: Bool
    /// Where the audio came from: the ALSA device or the input file.
    public var origin: String

    /// A record with every field given.
    public init(segmentIndex: Int, firstSample: Int64, start: SegmentTime, sampleRate: Int, frames: Int,
                channels: Int, sources: [String], model: String?, modelSHA256: String?,
                noiseProfile: String?, denoise: String, overrun: Bool, origin: String) {
        self.segmentIndex = segmentIndex
        self.firstSample = firstSample
        self.start = start.iso8601
        self.sampleRate = sampleRate
        self.frames = frames
        self.channels = channels
        self.sources = sources
        self.model = model
        self.modelSHA256 = modelSHA256
        self.noiseProfile = noiseProfile
        self.denoise = denoise
        self.overrun = overrun
        self.origin = origin
    }

    enum CodingKeys: String, CodingKey {
        case segmentIndex = "segment_index", firstSample = "first_sample", start, sampleRate = "sample_rate"
        case frames, channels, sources, model, modelSHA256 = "model_sha256", noiseProfile = "noise_profile"
        case denoise, overrun, origin
    }
}
