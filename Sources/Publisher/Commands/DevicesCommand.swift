import ArgumentParser
import Capture

/// `acoustic-edge devices`: the ALSA capture devices, with what each accepts.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List ALSA capture devices with their channel counts, rates and formats.",
        discussion: """
            Shows every capture PCM that ALSA's name hints offer (as `arecord -L` does): the \
            cards' hw:/plughw: devices and configured PCMs. Put the name in capture.device. \
            hw: devices give the interface's own channels and rates; plughw: converts rate \
            and channels in ALSA. A busy device is listed with the reason.
            """
    )

    @Option(name: .long, help: "Query only this PCM (any name capture.device accepts).")
    var device: String?

    func run() async throws {
        let devices = device.map { [CaptureDevices.query(name: $0)] } ?? CaptureDevices.list()
        if devices.isEmpty {
            print("no ALSA capture devices found (no sound card, or no permission on /dev/snd: add the user to the 'audio' group)")
            return
        }
        for d in devices {
            print(d.name)
            if !d.description.isEmpty { print("    \(d.description)") }
            if let problem = d.problem {
                print("    cannot query: \(problem)")
                continue
            }
            let channels = d.channels.map { d.convertsChannels ? "any (converting plugin)" : range($0) } ?? "?"
            let rates = d.rates.map { $0.upperBound >= 4_000_000_000 ? "any (converting plugin)" : range($0) + " Hz" } ?? "?"
            print("    channels: \(channels)   rates: \(rates)")
            print("    formats: " + (d.formats.isEmpty ? "none that capture reads" : d.formats.map(\.rawValue).joined(separator: " ")))
        }
    }

    private func range(_ r: ClosedRange<Int>) -> String {
        r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)"
    }
}
