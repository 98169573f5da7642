import AudioFiles
import Segments

/// A file (or in-memory samples) replayed as if captured live: `capture.source: file`.
///
/// The whole file is decoded once at start (`RecordedAudio`: the same decode, channel choice and
/// rate conversion as `process`), so the capture thread only copies from memory; a demo or test
/// file of minutes is a few tens of megabytes at most.
struct Replay: Sendable {
    /// Interleaved float32 frames of `channels` samples.
    let samples: [Float]
    let sampleRate: Int
    let channels: Int
    var frames: Int { channels == 0 ? 0 : samples.count / channels }

    /// The replay of `recording`.
    init(_ recording: RecordedAudio) {
        samples = recording.audio.samples
        sampleRate = recording.audio.sampleRate
        channels = recording.audio.channels
    }

    /// Decodes an audio file for replay at `settings`' rate and microphones.
    static func load(path: String, settings: CaptureSettings) throws(CaptureError) -> Replay {
        do {
            return Replay(try RecordedAudio(path: path, sampleRate: settings.sampleRate, channels: settings.channels))
        } catch {
            throw .file("capture.file \(error.description)")
        }
    }

    /// In-memory interleaved samples, taken as a file would be.
    static func make(interleaved: [Float], sampleRate: Int, channels: Int, name: String,
                     settings: CaptureSettings) throws(CaptureError) -> Replay {
        // Samples handed over in memory are taken at the capture rate (a file is converted).
        guard sampleRate == settings.sampleRate else {
            throw .file("\(name): \(sampleRate) Hz, but capture.sample_rate is \(settings.sampleRate); resample the file first")
        }
        guard channels > 0, interleaved.count % channels == 0 else {
            throw .file("\(name): \(interleaved.count) samples do not make whole frames of \(channels) channels")
        }
        let buffer = AudioBuffer(sampleRate: sampleRate, channels: channels, samples: interleaved)
        do {
            return Replay(try RecordedAudio(buffer, name: name, sampleRate: settings.sampleRate, channels: settings.channels))
        } catch {
            throw .file(error.description)
        }
    }

    /// The "negotiated" format of a replay.
    func format(name: String, settings: CaptureSettings) -> NegotiatedFormat {
        let period = max(1, min(settings.segmentFrames, Int(Double(sampleRate) * settings.periodSeconds)))
        return NegotiatedFormat(device: name, format: .float32, channels: channels, sampleRate: sampleRate,
                                periodFrames: period, bufferFrames: frames)
    }
}
