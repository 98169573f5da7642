import ArgumentParser
import Agent

/// The `acoustic-edge` command: an edge agent that listens to machines.
///
/// Each subcommand is one type in `Commands/`; docs/contract.md is the contract.
///
/// Failures are reported the same way for every subcommand (see `main()`): whatever a
/// subcommand's `run()` throws becomes one line on stderr, `acoustic-edge: error: <reason>`,
/// and exit status 2 for a configuration error, 1 for any other (Support/Failure.swift).
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
        version: AgentVersion.current,
        subcommands: [
            InspectCommand.self,
            CheckConfigCommand.self,
            DevicesCommand.self,
            CalibrateCommand.self,
            DenoiseCommand.self,
            MelCommand.self,
            SeparateCommand.self,
            ProcessCommand.self,
            RunCommand.self,
        ]
    )

    /// Parses the command line as swift-argument-parser does (help, version and usage
    /// errors are its own, exit 64 for a usage error), then runs the subcommand and reports
    /// whatever it throws on one line with the exit status of `Failure`.
    static func main() async {
        var command: ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // argument-parser's own commands (help) present their errors its way.
            exit(withError: Failure.isArgumentParsers(command) ? error : Failure.report(error))
        }
    }
}
