import ArgumentParser
import Configuration

/// The `--config FILE` option of every subcommand that reads the configuration.
///
/// Add it with `@OptionGroup var config: ConfigOption` and call `config.load()`: a file
/// that is missing or wrong throws `ConfigError`, which `AcousticEdge.main()` reports on one line
/// with exit status 2. Without `--config`, every setting has its default (the values of
/// `config/acoustic-edge.yaml`).
struct ConfigOption: ParsableArguments {
    @Option(name: .long,
            help: ArgumentHelp("The YAML configuration file (see config/acoustic-edge.yaml); without it, every default.",
                               valueName: "file"))
    var config: String?

    /// The validated configuration of `--config`, or every default when it is absent.
    func load() throws(ConfigError) -> AgentConfig {
        guard let config else { return AgentConfig() }
        return try AgentConfig.load(path: config)
    }
}
