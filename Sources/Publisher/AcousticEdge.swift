import ArgumentParser

/// The `acoustic-edge` command: an edge agent that listens to machines.
///
/// Each subcommand is one type in `Commands/`; see SPEC.md for the contract.
@main
struct AcousticEdge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acoustic-edge",
        abstract: "Listen to machines: capture, denoise, separate into machine parts, publish log-mel tensors.",
        discussion: """
            The agent captures a multi-microphone audio interface through ALSA, cuts the stream \
            into gapless segments and, for every microphone, removes the site's background \
            noise, separates the machine parts with a Demucs model and publishes one \
            1x240x240 log-mel tensor per part over MQTT, mirrored to disk as .pt files.
            """,
        version: "0.1.0",
        subcommands: [
            InspectCommand.self,
            CheckConfigCommand.self,
            DevicesCommand.self,
            CalibrateCommand.self,
        ]
    )
}
