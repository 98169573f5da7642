import Capture

/// What `acoustic-edge devices` prints: every ALSA capture PCM (or the one named) with its
/// channels, rates and the formats capture reads.
public enum DeviceListing {
    /// The listing's lines.
    public static func lines(device: String?) -> [String] {
        let devices = device.map { [CaptureDevices.query(name: $0)] } ?? CaptureDevices.list()
        if devices.isEmpty {
            return ["no ALSA capture devices found (no sound card, or no permission on /dev/snd: add the user to the 'audio' group)"]
        }
        var lines: [String] = []
        for d in devices {
            lines.append(d.name)
            if !d.description.isEmpty { lines.append("    \(d.description)") }
            if let problem = d.problem {
                lines.append("    cannot query: \(problem)")
                continue
            }
            let channels = d.channels.map { d.convertsChannels ? "any (converting plugin)" : range($0) } ?? "?"
            let rates = d.rates.map { $0.upperBound >= 4_000_000_000 ? "any (converting plugin)" : range($0) + " Hz" } ?? "?"
            lines.append("    channels: \(channels)   rates: \(rates)")
            lines.append("    formats: " + (d.formats.isEmpty ? "none that capture reads" : d.formats.map(\.rawValue).joined(separator: " ")))
        }
        return lines
    }

    private static func range(_ r: ClosedRange<Int>) -> String {
        r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)"
    }
}
