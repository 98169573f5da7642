import Agent
import ArgumentParser
import Logging

/// `acoustic-edge run`: the agent.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent: capture, process, publish, mirror and obey commands until stopped.",
        discussion: """
            Captures capture.device through ALSA (or replays capture.file in real time with \
            capture.source: file), cuts gapless segments of capture.segment_seconds, and for \
            every microphone denoises, separates and turns each source into a log-mel tensor. \
            Each tensor is published on {mqtt.topic_prefix}/mic{i}/{source} and mirrored under \
            output.dir. Commands arrive on {prefix}/cmd (start, stop, status, calibrate, reload); \
            the retained status is on {prefix}/status. SIGTERM or SIGINT stops it gracefully: \
            capture first, then the segment in flight, then the MQTT spool; SIGHUP reloads the \
            configuration. Under systemd (Type=notify) it reports READY and feeds the watchdog.

            Example:
              acoustic-edge run --config /etc/acoustic-edge/acoustic-edge.yaml
            """
    )

    @OptionGroup var config: ConfigOption

    func run() async throws {
        let settings = try config.load()
        let level = settings.logging.level.loggerLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            try await AgentRuntime.run(config: settings, configPath: config.config, logger: Logger(label: "acoustic-edge"))
        } catch let error as AgentFailure {
            throw CommandFailure(error.description)
        }
    }
}
