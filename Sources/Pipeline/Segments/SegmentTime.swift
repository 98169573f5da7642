import Foundation

/// Wall-clock instants of segments, in milliseconds since the Unix epoch (UTC), with the
/// two textual forms the product uses: ISO 8601 with milliseconds (`segment.json`, MQTT
/// properties) and the mirror's folder name `YYYY-MM-DD_HH-MM-SS`.
public struct SegmentTime: Sendable, Hashable, Comparable, Codable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millisecondsSinceEpoch: Int64

    /// The instant `millisecondsSinceEpoch` after the epoch.
    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// The instant `seconds` after the epoch, rounded to the millisecond.
    public init(secondsSinceEpoch seconds: Double) {
        self.millisecondsSinceEpoch = Int64((seconds * 1000).rounded())
    }

    /// Now, from the system's real-time clock.
    public static func now() -> SegmentTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return SegmentTime(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    /// This instant moved by `frames` samples at `sampleRate` (rounded to the millisecond).
    public func advanced(byFrames frames: Int64, sampleRate: Int) -> SegmentTime {
        SegmentTime(millisecondsSinceEpoch: millisecondsSinceEpoch + (frames * 1000 + Int64(sampleRate) / 2) / Int64(sampleRate))
    }

    public static func < (a: SegmentTime, b: SegmentTime) -> Bool {
        a.millisecondsSinceEpoch < b.millisecondsSinceEpoch
    }

    private var brokenDown: (tm: tm, millis: Int) {
        var seconds = time_t(millisecondsSinceEpoch.floorDivided(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (parts, Int(millisecondsSinceEpoch - Int64(seconds) * 1000))
    }

    /// `2025-07-16T15:03:20.125Z`.
    public var iso8601: String {
        let (t, ms) = brokenDown
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1))-\(pad(Int(t.tm_mday)))T"
            + "\(pad(Int(t.tm_hour))):\(pad(Int(t.tm_min))):\(pad(Int(t.tm_sec))).\(pad(ms, 3))Z"
    }

    /// `2025-07-16_15-03-20`: the mirror's folder name for a segment starting now (UTC).
    public var folderName: String {
        let (t, _) = brokenDown
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1))-\(pad(Int(t.tm_mday)))_"
            + "\(pad(Int(t.tm_hour)))-\(pad(Int(t.tm_min)))-\(pad(Int(t.tm_sec)))"
    }

    /// Parses the ISO 8601 form written by `iso8601` (also without milliseconds or `Z`).
    public init?(iso8601 text: String) {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { self.init(secondsSinceEpoch: d.timeIntervalSince1970); return }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: text) { self.init(secondsSinceEpoch: d.timeIntervalSince1970); return }
        return nil
    }

    private func pad(_ value: Int, _ width: Int = 2) -> String {
        let s = String(value)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

extension Int64 {
    fileprivate func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
