import ArgumentParser
import Configuration

/// `acoustic-edge check-config [--config FILE]`: validates a configuration file and prints
/// the effective settings (every key, defaults filled in) as YAML.
///
/// For operators: run it after editing a site's file; it fails exactly as `run` would at
/// start (one line naming the key, exit status 2), without touching any device or broker.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print the effective settings.",
        discussion: """
            Prints every setting as YAML, with the defaults of the keys the file leaves out \
            (durations in seconds, sizes in bytes). A file with an unknown key, a wrong type \
            or an impossible value is refused with one line naming the key, exit status 2.
            """
    )

    @OptionGroup var config: ConfigOption

    func run() async throws {
        let settings = try config.load()
        print("# effective settings of \(config.config ?? "the built-in defaults")")
        print(settings.renderedYAML, terminator: "")
    }
}
