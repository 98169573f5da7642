/// De-interleaving converters from a device's buffer to planar float32: the capture thread's
/// only per-sample work. No allocation; the caller owns both buffers.
enum SampleConversion {
    /// Converts `frames` interleaved frames of `channels` samples in `format` from `source` into
    /// the planar `destination`, where channel `c` starts at `c * channelStride` and this chunk
    /// lands at offset `offset` of every channel.
    ///
    /// Integers become `x / 2^(bits-1)`: the factor is a power of two, so the only rounding is
    /// the one of Float(x) itself (none for up to 24 significant bits).
    static func deinterleave(format: SampleFormat, source: UnsafeRawPointer, frames: Int,
                             channels: Int, destination: UnsafeMutablePointer<Float>,
                             channelStride: Int, offset: Int) {
        switch format {
        case .float32:
            let src = source.assumingMemoryBound(to: Float.self)
            for c in 0..<channels {
                let dst = destination + c * channelStride + offset
                var s = c
                for f in 0..<frames { dst[f] = src[s]; s += channels }
            }
        case .s32:
            let src = source.assumingMemoryBound(to: Int32.self)
            let scale = Float(1.0 / 2147483648.0)
            for c in 0..<channels {
                let dst = destination + c * channelStride + offset
                var s = c
                for f in 0..<frames { dst[f] = Float(Int32(littleEndian: src[s])) * scale; s += channels }
            }
        case .s24:
            // S24_LE: 24 significant bits in the low three bytes of 32; the top byte is not
            // guaranteed to be the sign extension (drivers differ), so sign-extend ourselves.
            let src = source.assumingMemoryBound(to: Int32.self)
            let scale = Float(1.0 / 8388608.0)
            for c in 0..<channels {
                let dst = destination + c * channelStride + offset
                var s = c
                for f in 0..<frames { dst[f] = Float((Int32(littleEndian: src[s]) << 8) >> 8) * scale; s += channels }
            }
        case .s24Packed:
            let src = source.assumingMemoryBound(to: UInt8.self)
            let scale = Float(1.0 / 8388608.0)
            let frameBytes = 3 * channels
            for c in 0..<channels {
                let dst = destination + c * channelStride + offset
                var p = 3 * c
                for f in 0..<frames {
                    let raw = Int32(src[p]) | Int32(src[p + 1]) << 8 | Int32(src[p + 2]) << 16
                    dst[f] = Float((raw << 8) >> 8) * scale
                    p += frameBytes
                }
            }
        case .s16:
            let src = source.assumingMemoryBound(to: Int16.self)
            let scale = Float(1.0 / 32768.0)
            for c in 0..<channels {
                let dst = destination + c * channelStride + offset
                var s = c
                for f in 0..<frames { dst[f] = Float(Int16(littleEndian: src[s])) * scale; s += channels }
            }
        }
    }
}
