import Agent
import ArgumentParser

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
        for line in DeviceListing.lines(device: device) { print(line) }
    }
}
