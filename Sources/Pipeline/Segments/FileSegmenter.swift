import AudioFiles
import Foundation
import Segments

/// Cuts audio files into segments exactly as live capture cuts the stream: consecutive whole
/// segments of `segmentFrames` frames, segment `k` starting at sample `k * segmentFrames`, a
/// trailing partial segment reported and dropped. The file becomes samples through
/// `RecordedAudio`, the path `capture.source: file` replay takes too, so `process` of a file
/// and `run` replaying it see the same samples.
public struct FileSegmenter: Sendable {
    /// The decoded (and, if needed, resampled) audio.
    public let audio: AudioBuffer
    /// The file's path.
    public let path: String
    /// Frames per segment.
    public let segmentFrames: Int
    /// The wall-clock time of the file's first sample.
    public let start: SegmentTime
    /// The file's rate before conversion.
    public let originalRate: Int

    /// Reads `path` for segments of `segmentFrames` at `sampleRate`, keeping `channels`
    /// microphones (0 = all of the file's). `start` defaults to the file's modification time
    /// minus its duration: the moment recording began, if the file was written as it recorded.
    public init(path: String, sampleRate: Int, channels: Int, segmentFrames: Int, start: SegmentTime? = nil) throws(PipelineError) {
        let recording: RecordedAudio
        do {
            recording = try RecordedAudio(path: path, sampleRate: sampleRate, channels: channels)
        } catch {
            throw PipelineError(error.description)
        }
        self.audio = recording.audio
        self.path = path
        self.segmentFrames = segmentFrames
        self.originalRate = recording.originalRate
        if let start {
            self.start = start
        } else {
            var info = stat()
            let modified = stat(path, &info) == 0 ? Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) * 1e-9 : 0
            self.start = SegmentTime(secondsSinceEpoch: modified - recording.originalDuration)
        }
    }

    /// Whole segments in the file.
    public var count: Int { audio.frames / segmentFrames }

    /// Frames after the last whole segment (dropped).
    public var trailingFrames: Int { audio.frames - count * segmentFrames }

    /// Segment `index` (planar samples), as the capture would have delivered it.
    public func segment(_ index: Int) -> Segment {
        precondition(index >= 0 && index < count)
        let first = index * segmentFrames
        let channels = audio.channels
        var data = [[Float]](repeating: [Float](repeating: 0, count: segmentFrames), count: channels)
        audio.samples.withUnsafeBufferPointer { src in
            for c in 0..<channels {
                data[c].withUnsafeMutableBufferPointer { dst in
                    for f in 0..<segmentFrames { dst[f] = src[(first + f) * channels + c] }
                }
            }
        }
        let startTime = start.advanced(byFrames: Int64(first), sampleRate: audio.sampleRate)
        return Segment(index: index, firstSample: Int64(first),
                       startTime: Double(startTime.millisecondsSinceEpoch) / 1000, sampleRate: audio.sampleRate,
                       channelData: data, overrun: false)
    }
}
