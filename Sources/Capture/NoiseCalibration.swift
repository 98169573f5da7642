import Logging
import Segments
import TensorFormats

/// The site's ambient noise, recorded before the machines run: what `calibrate` writes and
/// the denoise stage's stationary gating reads (`denoise.noise_profile`).
public struct NoiseProfile: Sendable {
    /// Frames per second (the capture rate; the denoise stage expects the same rate).
    public var sampleRate: Int
    /// The noise of each microphone, `channelData[mic][frame]`.
    public var channelData: [[Float]]
    /// When the recording started (seconds since the epoch, UTC, capture clock).
    public var startTime: Double
    /// True when samples were lost during the recording (an overrun): record again.
    public var overrun: Bool

    /// The profile as a tensor `[channels, samples]`, the layout `torch.load` gives back.
    public var tensor: Tensor {
        Tensor(shape: [channelData.count, channelData.first?.count ?? 0],
               values: channelData.flatMap { $0 })
    }

    /// Writes the profile as `[channels, samples]` float32; the format follows the extension
    /// (`.pt` as `torch.save` writes it, `.safetensors`, `.npy`); atomic (written aside, then
    /// renamed). The error names the path.
    public func write(to path: String) throws(TensorFormatError) {
        try TensorFile.write(tensor, to: path, metadata: ["sample_rate": String(sampleRate)])
    }
}

/// Records a noise profile through the same capture path as `run` (`acoustic-edge calibrate`
/// and the agent's MQTT `calibrate` command).
public enum NoiseCalibration {
    /// Records `seconds` of every channel from `settings`' source (device or file) as one
    /// segment of exactly `seconds * sampleRate` frames.
    public static func record(settings: CaptureSettings, seconds: Double,
                              logger: Logger = Logger(label: "acoustic-edge.calibrate")) async throws(CaptureError) -> NoiseProfile {
        let frames = Int((seconds * Double(settings.sampleRate)).rounded())
        guard seconds > 0, frames > 0 else {
            throw .invalidSetting("calibrate: --seconds must be positive, not \(seconds)")
        }
        var one = settings
        one.segmentFrames = frames
        one.queueDepth = 1
        // A noise recording from a file need not wait for the clock.
        if case .alsa = settings.source {} else { one.realtime = false }
        let capture = try AudioCapture(settings: one, logger: logger)
        try capture.start()
        var iterator = capture.segments.makeAsyncIterator()
        let segment = await iterator.next()
        capture.stop()
        guard let segment else {
            throw .file("calibrate: the source ended before \(seconds) s were recorded (a shorter file?)")
        }
        return NoiseProfile(sampleRate: segment.sampleRate, channelData: segment.channelData,
                            startTime: segment.startTime, overrun: segment.overrun)
    }

    /// A noise profile from segments of a capture that is already running (the agent's MQTT
    /// `calibrate` while `run` holds the device): the first `seconds` of consecutive segments.
    /// Throws when they are not consecutive (a segment was dropped) or too short.
    public static func profile(from segments: [Segment], seconds: Double) throws(CaptureError) -> NoiseProfile {
        guard let first = segments.first else {
            throw .invalidSetting("calibrate: no segments to make a noise profile from")
        }
        let frames = Int((seconds * Double(first.sampleRate)).rounded())
        guard seconds > 0, frames > 0 else {
            throw .invalidSetting("calibrate: seconds must be positive, not \(seconds)")
        }
        var channelData = [[Float]](repeating: [], count: first.channels)
        for c in 0..<first.channels { channelData[c].reserveCapacity(frames) }
        var expectedIndex = first.index
        var overrun = false
        for segment in segments where channelData[0].count < frames {
            guard segment.index == expectedIndex, segment.channels == first.channels else {
                throw .invalidSetting("calibrate: segment \(expectedIndex) is missing (dropped); record again")
            }
            let take = min(segment.frames, frames - channelData[0].count)
            for c in 0..<first.channels { channelData[c].append(contentsOf: segment.channelData[c].prefix(take)) }
            overrun = overrun || segment.overrun
            expectedIndex += 1
        }
        guard channelData[0].count == frames else {
            throw .invalidSetting("calibrate: the segments hold \(channelData[0].count) of the \(frames) frames needed")
        }
        return NoiseProfile(sampleRate: first.sampleRate, channelData: channelData,
                            startTime: first.startTime, overrun: overrun)
    }
}
