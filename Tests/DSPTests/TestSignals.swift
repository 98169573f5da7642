import Foundation
import ReferenceHarness

/// Deterministic test signals: machine-like tones with bursts over broadband noise.
enum TestSignals {
    /// A reproducible pseudo-random generator (SplitMix64), so every run sees the same signals.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in [0, 1).
        mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        /// Standard normal (Box-Muller).
        mutating func normal() -> Double {
            let u = max(uniform(), 1e-300), v = uniform()
            return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
        }
    }

    /// Broadband noise with a gently sloped spectrum (one-pole low-pass mixed with white).
    static func noise(count: Int, seed: UInt64, level: Double = 0.05) -> [Float] {
        var g = Generator(state: seed)
        var lp = 0.0
        return (0..<count).map { _ in
            let w = g.normal()
            lp = 0.95 * lp + 0.05 * w
            return Float(level * (0.6 * w + 2.0 * lp))
        }
    }

    /// Noise plus a few tones (a fan's blade rate and harmonics) that come and go in bursts.
    static func machine(count: Int, rate: Int, seed: UInt64, channel: Int = 0) -> [Float] {
        let background = noise(count: count, seed: seed &+ 17)
        let f0 = 110.0 * (1 + 0.13 * Double(channel))
        let tones: [(Double, Double)] = [(f0, 0.3), (2 * f0, 0.15), (3.7 * f0, 0.1), (1234.5, 0.05),
                                         (min(5500, Double(rate) * 0.4), 0.04)]
        let sr = Double(rate)
        return (0..<count).map { n in
            let t = Double(n) / sr
            // Bursts: on for ~0.35 s every 0.8 s, with soft edges.
            let phase = (t + 0.1 * Double(channel)).truncatingRemainder(dividingBy: 0.8)
            let envelope = 0.5 - 0.5 * cos(2 * Double.pi * min(phase / 0.35, 1))
            var s = 0.0
            for (f, a) in tones { s += a * sin(2 * Double.pi * f * t) }
            return background[n] + Float(envelope * s)
        }
    }

    /// Writes planar channels as raw float32 `[C, N]` row-major.
    static func writeRaw(_ channels: [[Float]], to url: URL) throws {
        var data = Data()
        for channel in channels {
            channel.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        }
        try data.write(to: url)
    }

    /// Reads raw float32 `[C, N]` row-major into planar channels.
    static func readRaw(_ url: URL, channels: Int) throws -> [[Float]] {
        let data = try Data(contentsOf: url)
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let n = values.count / channels
        return (0..<channels).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// ||a - b|| / ||b||.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var diff = 0.0, ref = 0.0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            diff += d * d
            ref += Double(b[i]) * Double(b[i])
        }
        return (diff / max(ref, 1e-300)).squareRoot()
    }

    /// max |a - b|.
    static func maxAbsError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var m = 0.0
        for i in 0..<a.count { m = max(m, abs(Double(a[i]) - Double(b[i]))) }
        return m
    }
}
