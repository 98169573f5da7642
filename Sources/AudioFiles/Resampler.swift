import CSoxr

/// Sample-rate conversion of whole signals with libsoxr at its "very high quality" recipe:
/// used when an input file's rate differs from the configured capture rate.
public enum Resampler {
    /// `buffer` converted to `targetRate` (every channel), or an error naming the reason.
    public static func resample(_ buffer: AudioBuffer, to targetRate: Int) throws(AudioFileError) -> AudioBuffer {
        if buffer.sampleRate == targetRate { return buffer }
        guard targetRate > 0 else { throw AudioFileError("resample: target rate \(targetRate) must be positive") }
        let ratio = Double(targetRate) / Double(buffer.sampleRate)
        let outFrames = Int((Double(buffer.frames) * ratio).rounded())
        var output = [Float](repeating: 0, count: outFrames * buffer.channels)
        var done = 0
        var ioSpec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_VHQ), 0)
        let error = buffer.samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                soxr_oneshot(Double(buffer.sampleRate), Double(targetRate), UInt32(buffer.channels),
                             input.baseAddress, buffer.frames, nil,
                             out.baseAddress, outFrames, &done,
                             &ioSpec, &quality, nil)
            }
        }
        if let error {
            throw AudioFileError("resample \(buffer.sampleRate) Hz -> \(targetRate) Hz: \(String(cString: error))")
        }
        return AudioBuffer(sampleRate: targetRate, channels: buffer.channels,
                           samples: Array(output.prefix(done * buffer.channels)))
    }
}
