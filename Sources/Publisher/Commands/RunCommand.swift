import ArgumentParser
import Configuration
import Foundation
import Logging
import MQTTBridge
import Metrics
import Operations
import Prometheus
import ServiceLifecycle

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
        let logger = Logger(label: "acoustic-edge")
        let registry = PrometheusCollectorRegistry()
        if settings.metrics.port > 0 {
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
        let controller = AgentController(config: settings, configPath: config.config, logger: logger)
        let metrics = AgentMetrics()
        let started = ContinuousClock.now
        var services: [any Service] = []
        if settings.metrics.port > 0 {
            services.append(MetricsEndpoint(registry: registry, host: settings.metrics.address, port: settings.metrics.port,
                                            logger: logger))
        }
        var publisher: TensorPublisher? = nil
        if settings.mqtt.enabled {
            let p = try TensorPublisher(config: settings, logger: Logger(label: "acoustic-edge.mqtt"),
                                        status: { stats in
                                            JSONValue.object(AgentStatus.fields(controller.snapshot, uptime: seconds(since: started), bridge: stats)).text
                                        })
            publisher = p
            services.append(BridgeService(publisher: p, flushBudget: 15, logger: logger))
        }
        services.append(AgentService(controller: controller, publisher: publisher, metrics: metrics, logger: logger))
        logger.info("acoustic-edge starting", metadata: [
            "config": "\(config.config ?? "(defaults)")", "capture": "\(settings.capture.source == .file ? settings.capture.file ?? "" : settings.capture.device)",
            "mqtt": "\(settings.mqtt.enabled ? "\(settings.mqtt.host):\(settings.mqtt.port)" : "off")",
        ])
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as AgentFailure {
            throw CommandFailure(error.description)
        }
        logger.info("acoustic-edge stopped")
    }
}
