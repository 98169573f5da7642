import AudioFiles

/// An audio file as the agent's microphones: decoded, cut down to the microphones asked for,
/// converted to the capture rate, always in that order.
///
/// `run` replaying `capture.file` and `process` reading its inputs both go through this one
/// path, so a file replayed live and the same file processed offline give the same samples.
/// Channels are kept before converting (libsoxr converts each channel on its own, so the order
/// changes nothing but the work).
public struct RecordedAudio: Sendable {
    /// The samples, interleaved, at the requested rate, with the microphones kept.
    public let audio: AudioBuffer
    /// Where they came from (a path, or a name for samples already in memory).
    public let name: String
    /// The rate before conversion.
    public let originalRate: Int
    /// The file's own channel count (before keeping the first `channels`).
    public let originalChannels: Int
    /// The file's duration before conversion, seconds.
    public let originalDuration: Double

    /// Decodes `path` (any format libsndfile reads), keeps its first `channels` channels
    /// (0 = all) and converts it to `sampleRate`.
    public init(path: String, sampleRate: Int, channels: Int) throws(RecordedAudioError) {
        let decoded: AudioBuffer
        do {
            decoded = try AudioFile.read(path: path)
        } catch {
            throw RecordedAudioError(error.description)
        }
        try self.init(decoded, name: path, sampleRate: sampleRate, channels: channels)
    }

    /// The same for samples already decoded (`name` names them in errors).
    public init(_ decoded: AudioBuffer, name: String, sampleRate: Int, channels: Int) throws(RecordedAudioError) {
        guard channels <= decoded.channels else {
            throw RecordedAudioError("\(name): has \(decoded.channels) channel(s), capture.channels asks for \(channels)")
        }
        var audio = Self.keeping(channels, of: decoded)
        if audio.sampleRate != sampleRate {
            do {
                audio = try Resampler.resample(audio, to: sampleRate)
            } catch {
                throw RecordedAudioError("\(name): \(error.description)")
            }
        }
        self.audio = audio
        self.name = name
        self.originalRate = decoded.sampleRate
        self.originalChannels = decoded.channels
        self.originalDuration = decoded.duration
    }

    /// The first `channels` channels of `buffer` (0 or all of them: `buffer` itself).
    static func keeping(_ channels: Int, of buffer: AudioBuffer) -> AudioBuffer {
        guard channels > 0, channels < buffer.channels else { return buffer }
        let frames = buffer.frames
        var kept = [Float](repeating: 0, count: frames * channels)
        buffer.samples.withUnsafeBufferPointer { src in
            kept.withUnsafeMutableBufferPointer { dst in
                for f in 0..<frames {
                    for c in 0..<channels { dst[f * channels + c] = src[f * buffer.channels + c] }
                }
            }
        }
        return AudioBuffer(sampleRate: buffer.sampleRate, channels: channels, samples: kept)
    }
}

/// Why an audio file cannot serve as the microphones: one line naming the file.
public struct RecordedAudioError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The one-line reason, starting with the file's name.
    public var description: String
    /// An error with the given reason.
    public init(_ description: String) { self.description = description }
}
