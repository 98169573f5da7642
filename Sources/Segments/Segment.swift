// Segments: what capture and `process` both hand to the pipeline: a segment of every
// microphone, and the one way an audio file becomes microphone samples.

/// One segment of the capture: `frames` consecutive frames of every microphone.
///
/// Segment `index` starts at sample `firstSample == index * frames` of the stream: consecutive
/// indices are contiguous, and a missing index is a segment dropped because the consumer was
/// behind (counted in `CaptureStats.droppedSegments`).
///
/// The samples are planar (`channelData[mic][frame]`), not interleaved: every stage after
/// capture (denoise, separate, mel) works on one microphone at a time, so one contiguous array
/// per microphone is what they read; the capture thread de-interleaves once while it converts
/// the device's format anyway.
public struct Segment: Sendable {
    /// The segment's position in the stream, counting dropped segments too.
    public var index: Int
    /// Index of the segment's first frame in the stream (per channel, from 0 at start).
    public var firstSample: Int64
    /// When the first frame was captured, from the capture clock: seconds since the Unix epoch
    /// (UTC), at sub-millisecond resolution.
    public var startTime: Double
    /// Frames per second.
    public var sampleRate: Int
    /// The samples, `channelData[mic]` holding `frames` values in [-1, 1).
    public var channelData: [[Float]]
    /// True when samples were lost inside this segment or just before it (an ALSA overrun, a
    /// suspended or reopened device): the segment is whole but not gapless in time.
    public var overrun: Bool

    /// Number of channels (microphones).
    public var channels: Int { channelData.count }
    /// Frames per channel.
    public var frames: Int { channelData.first?.count ?? 0 }

    /// A segment from its parts.
    public init(index: Int, firstSample: Int64, startTime: Double, sampleRate: Int,
                channelData: [[Float]], overrun: Bool) {
        self.index = index
        self.firstSample = firstSample
        self.startTime = startTime
        self.sampleRate = sampleRate
        self.channelData = channelData
        self.overrun = overrun
    }
}
