import Foundation

/// Deterministic test signals: machine-like tones with bursts over broadband noise.
public enum TestSignals {
    /// Broadband noise with a gently sloped spectrum (one-pole low-pass mixed with white).
    public static func noise(count: Int, seed: UInt64, level: Double = 0.05) -> [Float] {
        var g = SplitMix64(seed: seed)
        var lp = 0.0
        return (0..<count).map { _ in
            let w = g.normal()
            lp = 0.95 * lp + 0.05 * w
            return Float(level * (0.6 * w + 2.0 * lp))
        }
    }

    /// Noise plus a few tones (a fan's blade rate and harmonics) that come and go in bursts.
    public static func machine(count: Int, rate: Int, seed: UInt64, channel: Int = 0) -> [Float] {
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
    public static func writeRaw(_ channels: [[Float]], to url: URL) throws {
        var data = Data()
        for channel in channels {
            channel.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        }
        try data.write(to: url)
    }

    /// Reads raw float32 `[C, N]` row-major into planar channels.
    public static func readRaw(_ url: URL, channels: Int) throws -> [[Float]] {
        let data = try Data(contentsOf: url)
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let n = values.count / channels
        return (0..<channels).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
    }


    /// max |a - b|.
    public static func maxAbsError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var m = 0.0
        for i in 0..<a.count { m = max(m, abs(Double(a[i]) - Double(b[i]))) }
        return m
    }
}
