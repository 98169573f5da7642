// Durations (`90`, `"30s"`, `"1h30m"`, `"7d"`) and byte sizes (`0`, `"500MB"`, `"2GiB"`)
// as operators write them. Hand-written: neither Foundation nor Yams parses these.

enum Units {
    /// Seconds per duration unit.
    static let durationUnits: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800),
    ]

    /// Parses a duration string: one or more `<number><unit>` parts (`30s`, `1h30m`, `1.5d`)
    /// with units ms, s, m, h, d, w, or a bare number of seconds. Nil when malformed.
    static func seconds(fromDuration text: String) -> Double? {
        let text = text.trimmingWhitespace
        guard !text.isEmpty else { return nil }
        if let plain = Double(text) { return plain }
        var total = 0.0
        var rest = Substring(text)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let unit = durationUnits.first(where: { $0.suffix == String(unitText) }) else {
                return nil
            }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.seconds
        }
        return total
    }

    /// Bytes per size unit: decimal (kB, MB, GB, TB; K, M, G, T) and binary (KiB, MiB, GiB, TiB).
    static let sizeUnits: [String: Double] = [
        "": 1, "b": 1,
        "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
        "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
    ]

    /// Parses a byte size: a number with an optional unit (`500MB`, `2 GiB`, `1.5G`).
    /// Nil when malformed or too large.
    static func bytes(fromSize text: String) -> Int? {
        let text = text.trimmingWhitespace
        let number = text.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        let unit = text.dropFirst(number.count).trimmingWhitespace.lowercased()
        guard let scale = sizeUnits[unit] else { return nil }
        let bytes = (value * scale).rounded(.down)
        guard bytes < 9.0e18 else { return nil }
        return Int(bytes)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line breaks.
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}

/// Suggestions for a mistyped key ("did you mean ...?"), by edit distance.
enum Suggestion {
    /// The Levenshtein distance between two strings (insertions, deletions, substitutions).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The candidate closest to `word`, when it is close enough to be a typo: at most a
    /// third of the word's letters differ (at least one, at most three).
    static func closest(to word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        let limit = max(1, min(3, lowered.count / 3))
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.name
    }
}
