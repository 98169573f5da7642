import AudioFiles

/// A file (or in-memory samples) replayed as if captured live: `capture.source: file`.
///
/// The whole file is decoded once at start, so the capture thread only copies from memory;
/// a demo or test file of minutes is a few tens of megabytes at most.
struct Replay: Sendable {
    /// Interleaved float32 frames of `channels` samples.
    let samples: [Float]
    let sampleRate: Int
    let channels: Int
    var frames: Int { channels == 0 ? 0 : samples.count / channels }

    /// Checks in-memory samples against the settings (channels 0 = all of them).
    static func make(interleaved: [Float], sampleRate: Int, channels: Int, name: String,
                     settings: CaptureSettings) throws(CaptureError) -> Replay {
        guard sampleRate == settings.sampleRate else {
            throw .file("\(name): \(sampleRate) Hz, but capture.sample_rate is \(settings.sampleRate); resample the file first")
        }
        guard channels > 0, interleaved.count % channels == 0 else {
            throw .file("\(name): \(interleaved.count) samples do not make whole frames of \(channels) channels")
        }
        if settings.channels == 0 || settings.channels == channels {
            return Replay(samples: interleaved, sampleRate: sampleRate, channels: channels)
        }
        guard settings.channels < channels else {
            throw .file("\(name): has \(channels) channel(s), capture.channels asks for \(settings.channels)")
        }
        // Fewer microphones than the file has: keep the first ones (copied once, at start).
        let frames = interleaved.count / channels
        var kept = [Float](repeating: 0, count: frames * settings.channels)
        for f in 0..<frames {
            for c in 0..<settings.channels { kept[f * settings.channels + c] = interleaved[f * channels + c] }
        }
        return Replay(samples: kept, sampleRate: sampleRate, channels: settings.channels)
    }

    /// Decodes an audio file for replay.
    /// A file at another rate than `capture.sample_rate` is converted with libsoxr, exactly
    /// as `process` converts it, so replay and `process` see the same samples.
    static func load(path: String, settings: CaptureSettings) throws(CaptureError) -> Replay {
        var buffer: AudioBuffer
        do {
            buffer = try AudioFile.read(path: path)
            if buffer.sampleRate != settings.sampleRate {
                buffer = try Resampler.resample(buffer, to: settings.sampleRate)
            }
        } catch {
            throw .file("capture.file \(error.description)")
        }
        return try make(interleaved: buffer.samples, sampleRate: buffer.sampleRate,
                        channels: buffer.channels, name: path, settings: settings)
    }

    /// The "negotiated" format of a replay.
    func format(name: String, settings: CaptureSettings) -> NegotiatedFormat {
        let period = max(1, min(settings.segmentFrames, Int(Double(sampleRate) * settings.periodSeconds)))
        return NegotiatedFormat(device: name, format: .float32, channels: channels, sampleRate: sampleRate,
                                periodFrames: period, bufferFrames: frames)
    }
}
