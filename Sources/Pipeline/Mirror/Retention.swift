import Foundation

/// Keeps the disk mirror bounded: removes the oldest segment folders while the mirror holds
/// more than `maxBytes`, and every segment folder older than `maxAge`.
///
/// Only folders named like segments (`YYYY-MM-DD_HH-MM-SS`, optionally `_N`) are considered,
/// so nothing else an operator keeps in the output folder is touched; segments being written
/// are hidden `.partial` folders and are never seen; the newest segment is always kept.
public struct Retention: Sendable {
    /// Upper bound of the mirror's size in bytes; 0 = no bound.
    public var maxBytes: Int64
    /// Upper bound of a segment's age in seconds; 0 = no bound.
    public var maxAgeSeconds: Double

    /// A policy with the given bounds (0 = unbounded).
    public init(maxBytes: Int64, maxAgeSeconds: Double) {
        self.maxBytes = maxBytes
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// What a sweep removed.
    public struct Outcome: Sendable, Equatable {
        /// Folder names removed, oldest first.
        public var removed: [String] = []
        /// Bytes freed.
        public var freedBytes: Int64 = 0
    }

    /// Sweeps `root` once; `now` decides ages.
    public func sweep(root: String, now: SegmentTime = .now()) -> Outcome {
        var outcome = Outcome()
        guard maxBytes > 0 || maxAgeSeconds > 0 else { return outcome }
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root) else { return outcome }
        var segments = names.compactMap { name -> (name: String, start: Int64, bytes: Int64)? in
            guard let start = Self.startMilliseconds(ofFolder: name) else { return nil }
            return (name, start, Self.size(of: "\(root)/\(name)"))
        }
        segments.sort { ($0.start, $0.name) < ($1.start, $1.name) }
        var total = segments.reduce(Int64(0)) { $0 + $1.bytes }
        for segment in segments.dropLast() {  // the newest segment always stays
            let tooOld = maxAgeSeconds > 0 && Double(now.millisecondsSinceEpoch - segment.start) / 1000 > maxAgeSeconds
            let tooBig = maxBytes > 0 && total > maxBytes
            guard tooOld || tooBig else { break }
            if (try? fm.removeItem(atPath: "\(root)/\(segment.name)")) != nil {
                outcome.removed.append(segment.name)
                outcome.freedBytes += segment.bytes
                total -= segment.bytes
            }
        }
        return outcome
    }

    /// The start time encoded in a segment folder's name, or nil for other names.
    static func startMilliseconds(ofFolder name: String) -> Int64? {
        let base = name.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard base.count >= 2 else { return nil }
        let date = base[0].split(separator: "-"), time = base[1].split(separator: "-")
        guard date.count == 3, time.count == 3, base.count == 2 || Int(base[2]) != nil else { return nil }
        let numbers = (date + time).compactMap { Int($0) }
        guard numbers.count == 6, date[0].count == 4, ([date[1], date[2]] + time).allSatisfy({ $0.count == 2 }) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(numbers[0] - 1900)
        parts.tm_mon = Int32(numbers[1] - 1)
        parts.tm_mday = Int32(numbers[2])
        parts.tm_hour = Int32(numbers[3])
        parts.tm_min = Int32(numbers[4])
        parts.tm_sec = Int32(numbers[5])
        return Int64(timegm(&parts)) * 1000
    }

    /// Bytes of all regular files under `path`.
    static func size(of path: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let item = walker.nextObject() as? String {
            var info = stat()
            if lstat("\(path)/\(item)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
        }
        return total
    }
}
