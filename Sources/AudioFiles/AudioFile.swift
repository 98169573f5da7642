import CSndfile
import Foundation

/// Multi-channel audio as float32, interleaved `[frames, channels]` (frame-major), the
/// layout libsndfile and ALSA use. A channel is one microphone.
public struct AudioBuffer: Sendable, Equatable {
    /// Samples per second.
    public var sampleRate: Int
    /// Number of channels (microphones).
    public var channels: Int
    /// Interleaved samples: `samples[frame * channels + channel]`.
    public var samples: [Float]

    /// A buffer of interleaved `samples`; their count must be a multiple of `channels`.
    public init(sampleRate: Int, channels: Int, samples: [Float]) {
        precondition(channels > 0 && samples.count % channels == 0, "samples do not fill whole frames")
        self.sampleRate = sampleRate
        self.channels = channels
        self.samples = samples
    }

    /// A buffer from planar channels of equal length.
    public init(sampleRate: Int, channelData: [[Float]]) {
        precondition(!channelData.isEmpty, "at least one channel")
        let frames = channelData[0].count
        precondition(channelData.allSatisfy { $0.count == frames }, "channels differ in length")
        var samples = [Float](repeating: 0, count: frames * channelData.count)
        for (c, data) in channelData.enumerated() {
            for f in 0..<frames { samples[f * channelData.count + c] = data[f] }
        }
        self.init(sampleRate: sampleRate, channels: channelData.count, samples: samples)
    }

    /// Number of frames (samples per channel).
    public var frames: Int { samples.count / channels }

    /// Duration in seconds.
    public var duration: Double { Double(frames) / Double(sampleRate) }

    /// The samples of channel `index` (planar).
    public func channel(_ index: Int) -> [Float] {
        precondition(index >= 0 && index < channels, "channel \(index) of \(channels)")
        var out = [Float](repeating: 0, count: frames)
        samples.withUnsafeBufferPointer { src in
            for f in 0..<out.count { out[f] = src[f * channels + index] }
        }
        return out
    }

    /// All channels, planar: `[channel][frame]`.
    public var channelData: [[Float]] { (0..<channels).map(channel) }
}

/// Why an audio file could not be read or written: one line naming the file and the reason.
public struct AudioFileError: Error, CustomStringConvertible, Equatable {
    /// The one-line reason, starting with the file's path.
    public var description: String

    /// An error with the given one-line reason.
    public init(_ description: String) { self.description = description }
}

/// Audio files through libsndfile: reads every format it reads (WAV PCM 16/24/32, float,
/// FLAC, ...), writes float32 WAV.
public enum AudioFile {
    /// Reads a whole audio file as float32 (integer formats scaled to [-1, 1)).
    public static func read(path: String) throws(AudioFileError) -> AudioBuffer {
        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioFileError("\(path): \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(handle) }
        guard info.channels > 0, info.samplerate > 0 else {
            throw AudioFileError("\(path): no channels or no sample rate")
        }
        let channels = Int(info.channels)
        let frames = Int(info.frames)
        guard frames > 0 else { throw AudioFileError("\(path): the file holds no audio") }
        var samples = [Float](repeating: 0, count: frames * channels)
        let got = samples.withUnsafeMutableBufferPointer { sf_readf_float(handle, $0.baseAddress, sf_count_t(frames)) }
        guard got == sf_count_t(frames) else {
            throw AudioFileError("\(path): read \(got) of \(frames) frames (\(String(cString: sf_strerror(handle))))")
        }
        return AudioBuffer(sampleRate: Int(info.samplerate), channels: channels, samples: samples)
    }

    /// Writes `buffer` to `path` as a float32 WAV, atomically (a temporary file beside it,
    /// renamed when complete).
    public static func write(_ buffer: AudioBuffer, to path: String) throws(AudioFileError) {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        var info = SF_INFO()
        info.samplerate = Int32(buffer.sampleRate)
        info.channels = Int32(buffer.channels)
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
        guard let handle = sf_open(temp, Int32(SFM_WRITE), &info) else {
            throw AudioFileError("\(path): cannot create: \(String(cString: sf_strerror(nil)))")
        }
        let written = buffer.samples.withUnsafeBufferPointer { sf_writef_float(handle, $0.baseAddress, sf_count_t(buffer.frames)) }
        let message = String(cString: sf_strerror(handle))
        sf_write_sync(handle)
        let closed = sf_close(handle)
        guard written == sf_count_t(buffer.frames), closed == 0 else {
            unlink(temp)
            throw AudioFileError("\(path): wrote \(written) of \(buffer.frames) frames (\(message))")
        }
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw AudioFileError("\(path): rename failed: \(reason)")
        }
    }
}
