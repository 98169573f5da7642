/// Elementwise math that the compiler can vectorize. Glibc's `exp` is a call per element
/// (no vector variant reachable from Swift on Linux), which made the non-stationary mask's
/// sigmoid the most expensive step of the denoise stage; no Swift package on the field's list
/// offers vectorized transcendental functions, hence this small kernel.
enum FastMath {
    /// e^x for x in [-87, 88] (clamped outside), relative error below 2e-7: x = n ln2 + r,
    /// |r| <= ln2 / 2, a degree-6 Taylor polynomial for e^r, 2^n put in the exponent bits.
    /// Branch-free, so loops over it vectorize.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let clamped = min(max(x, -87), 88)
        let magic: Float = 12_582_912  // 1.5 * 2^23: adding it rounds to an integer in the low bits
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        let r = (clamped - n * 0.693_145_75) - n * 1.428_606_8e-6  // ln2 split in two parts
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000  // n as an integer
        let scale = Float(bitPattern: UInt32(bitPattern: (exponent &+ 127) &<< 23))
        return p * scale
    }

    /// log10(x) for positive normal x (inf and NaN pass through), error within a few ulps
    /// (relative 3e-7 of the result): x = 2^e m with m in [sqrt(1/2), sqrt(2)),
    /// ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172, five terms of the atanh series.
    /// Branch-free, so loops over it vectorize: glibc's log10f was a quarter of the mel
    /// stage's time (57 600 calls per channel).
    @inline(__always)
    static func log10(_ x: Float) -> Float {
        let bits = x.bitPattern
        let mantissa = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F80_0000)  // [1, 2)
        let large = mantissa > 1.414_213_56
        let m = large ? mantissa * 0.5 : mantissa
        let e = Float(Int32(bitPattern: (bits >> 23) & 0xFF) &- 127 &+ (large ? 1 : 0))
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        var p: Float = 1.0 / 9
        p = p * t2 + 1.0 / 7
        p = p * t2 + 1.0 / 5
        p = p * t2 + 1.0 / 3
        p = p * t2 + 1
        let lnM = 2 * t * p
        // ln 2 in two parts, so e ln 2 (up to ~88) keeps float precision.
        let ln = (e * 0.693_145_75 + lnM) + e * 1.428_606_8e-6
        let result = ln * 0.434_294_48
        return x.isFinite ? result : x
    }
}
