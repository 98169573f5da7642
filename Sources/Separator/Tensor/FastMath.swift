// Branch-free erf, sigmoid and base-2 exp that the compiler vectorizes inside loops (libm's
// expf/erff are calls, which keep softmax, GLU and GELU loops scalar: they were a quarter of
// the run time). The natural exp is DSP's `FastMath.exp` (one for the whole product).
//
// erf: a rational z P(z^2) / Q(z^2) on [-4, 4], absolute error 2.4e-7 (two float ulps of
// `1 + erf` at the scale GELU uses it); the separator's GELU outputs stay within 1e-7 .. 4e-7
// of torch's (kernel tests). It replaced Abramowitz & Stegun 7.1.26 (1.5e-7, but an exp and a
// division per value): a pass of the default model 3 % faster. Coefficients of exp2Lanes and
// fastErf: scripts/fit_fast_math.py fits them and prints their float32 errors.

import DSP

/// Exact-GELU `x/2 (1 + erf(x / sqrt 2))` with a vectorizable erf (see above).
@inline(__always)
func fastGelu(_ x: Float) -> Float {
    let z = x * 0.70710678118654752440
    return 0.5 * x + 0.5 * x * fastErf(z)
}

/// erf on `[-4, 4]` (clamped beyond: erf(4) is 1 in float32) as `z P(z^2) / Q(z^2)`, a
/// degree-5/5 rational fitted to erf's absolute error (scripts/fit_fast_math.py): 2.4e-7
/// evaluated in float32, with two independent FMA chains and one division, where the
/// exp-based Abramowitz-Stegun form took twice the instructions.
@inline(__always)
func fastErf(_ input: Float) -> Float {
    var z = input
    z = z > 4 ? 4 : z
    z = z < -4 ? -4 : z
    let u = z * z
    var p: Float = 1.9748204e-6
    p = Float(2.8804230e-4).addingProduct(p, u)
    p = Float(4.0036901e-3).addingProduct(p, u)
    p = Float(5.3467616e-2).addingProduct(p, u)
    p = Float(0.19625002).addingProduct(p, u)
    p = Float(1.1283790).addingProduct(p, u)
    var q: Float = 3.7480808e-5
    q = Float(1.2163705e-3).addingProduct(q, u)
    q = Float(1.5444512e-2).addingProduct(q, u)
    q = Float(0.11647686).addingProduct(q, u)
    q = Float(0.50725323).addingProduct(q, u)
    q = Float(1).addingProduct(q, u)
    return z * p / q
}

/// Logistic sigmoid with the vectorizable exp.
@inline(__always)
func fastSigmoid(_ x: Float) -> Float {
    1 / (1 + FastMath.exp(-x))
}

/// Sum of `count` floats, in 8 lanes (vectorized; float lanes folded into a double).
@inline(__always)
func laneSum(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
    var acc = SIMD8<Float>(repeating: 0)
    var j = 0
    let raw = UnsafeRawPointer(p)
    var total = 0.0
    while j + 8 <= count {
        acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        j += 8
        if j & 1023 == 0 { total += Double(acc.sum()); acc = .zero }
    }
    total += Double(acc.sum())
    while j < count { total += Double(p[j]); j += 1 }
    return total
}

/// Sum of `(p[i] - mean)^2` over `count` floats, in 8 lanes.
@inline(__always)
func laneSumOfSquares(_ p: UnsafePointer<Float>, _ count: Int, mean: Float) -> Double {
    var acc = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var j = 0
    let raw = UnsafeRawPointer(p)
    var total = 0.0
    while j + 8 <= count {
        let d = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) - m
        acc += d * d
        j += 8
        if j & 1023 == 0 { total += Double(acc.sum()); acc = .zero }
    }
    total += Double(acc.sum())
    while j < count { let d = Double(p[j] - mean); total += d * d; j += 1 }
    return total
}

/// Largest of `count` floats (count >= 1), in 8 lanes.
@inline(__always)
func laneMax(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    let raw = UnsafeRawPointer(p)
    while j + 8 <= count {
        let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        acc.replace(with: v, where: v .> acc)
        j += 8
    }
    var m = acc.max()
    while j < count { m = p[j] > m ? p[j] : m; j += 1 }
    return m
}

/// `2^x` on 16 lanes for `x <= 0` (the softmax's scores less their maximum, in base 2):
/// `x = n + f` with `n` the nearest integer, `|f| <= 1/2`, and a degree-6 polynomial for `2^f`
/// (relative error 7.9e-8 in float32, scripts/fit_fast_math.py). Base 2 needs no
/// Cody-Waite split of ln 2: `f` is exact. Inputs below -126 give 2^-126 (as `FastMath.exp` clamps).
@inline(__always)
func exp2Lanes(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let clamped = x.replacing(with: -126, where: x .< -126)
    let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5 * 2^23: adding it rounds to an integer
    let shifted = clamped + magic
    let f = clamped - (shifted - magic)
    var p = SIMD16<Float>(repeating: 1.5345818e-4)
    p = SIMD16<Float>(repeating: 1.3399932e-3).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 9.618489e-3).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 5.5503286e-2).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 0.24022646).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 0.69314718).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 1).addingProduct(p, f)
    let n = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- Int32(bitPattern: magic[0].bitPattern)
    return p * unsafeBitCast((n &+ 127) &<< 23, to: SIMD16<Float>.self)
}

/// `p[i] = 2^(p[i] - minus)` over `count` floats, in place (`minus` at least their maximum);
/// returns their sum. One pass: the sum is taken on the lanes just computed.
@inline(__always)
func exponentiate2AndSum(_ p: UnsafeMutablePointer<Float>, _ count: Int, minus: Float) -> Float {
    let m = SIMD16<Float>(repeating: minus)
    var sum = SIMD16<Float>()
    var j = 0
    let raw = UnsafeMutableRawPointer(p)
    while j + 16 <= count {
        let e = exp2Lanes(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - m)
        (raw + 4 * j).storeBytes(of: e, as: SIMD16<Float>.self)
        sum += e
        j += 16
    }
    if j < count {
        var x = SIMD16<Float>(repeating: -1000)
        for i in 0..<(count - j) { x[i] = p[j + i] - minus }
        let e = exp2Lanes(x)
        for i in 0..<(count - j) { p[j + i] = e[i]; sum[i] += e[i] }
    }
    return sum.sum()
}
