import Foundation

/// SplitMix64: a small seeded generator, so a test sees the same numbers on every run (the
/// standard library's generator is seeded randomly).
public struct SplitMix64: RandomNumberGenerator {
    /// The generator's state.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

/// Relative L2 error `||a - b|| / ||b||` of `a` against the reference `b` (in double).
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    var diff = 0.0, ref = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        diff += d * d
        ref += Double(b[i]) * Double(b[i])
    }
    return (diff / max(ref, 1e-300)).squareRoot()
}
