/// Elementwise math that the compiler can vectorize. Glibc's `exp` is a call per element
/// (no vector variant reachable from Swift on Linux), which made the non-stationary mask's
/// sigmoid the most expensive step of the denoise stage and kept the separator's softmax, GLU
/// and GELU loops scalar (a quarter of its run time); no Swift package on the field's list
/// offers vectorized transcendental functions, hence this small kernel. One exp for both
/// stages (the separator imports it).
public enum FastMath {
    /// e^x for x in [-87, 88] (clamped outside), about 1 ulp: Cody-Waite range reduction
    /// x = n ln2 + r, |r| <= ln2 / 2 (ln 2 in two parts), Cephes's degree-6 polynomial for e^r,
    /// 2^n put in the exponent bits. Rounding to nearest uses the 1.5 * 2^23 trick, so no floor
    /// instruction (SSE2 has none) is needed. Branch-free, so loops over it vectorize.
    /// (It replaced a degree-6 Taylor polynomial, relative error 2e-7, at the same speed.)
    @inlinable @inline(__always)
    public static func exp(_ input: Float) -> Float {
        var x = input
        x = x < -87.0 ? -87.0 : x
        x = x > 88.0 ? 88.0 : x
        let magic: Float = 12_582_912  // 1.5 * 2^23: adding it rounds to an integer in the low bits
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        let nBits = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: magic.bitPattern)
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let er = p * r * r + r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: (nBits &+ 127) << 23))
        return er * scale
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
