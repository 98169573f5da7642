import Configuration
import Control
import Foundation
import Logging
import MQTTBridge
import Metrics
import Operations
import Prometheus
import ServiceLifecycle

/// `acoustic-edge run`: the agent's services in one swift-service-lifecycle `ServiceGroup`,
/// started in the order below and stopped in reverse on SIGTERM or SIGINT.
public enum AgentRuntime {
    /// Runs the agent with `config` (read from `configPath`, for reloads) until it is
    /// stopped. Throws `AgentFailure` when it cannot start (a capture device that cannot be
    /// opened, a model that cannot be loaded).
    public static func run(config: AgentConfig, configPath: String?, logger: Logger) async throws {
        let registry = PrometheusCollectorRegistry()
        if config.metrics.port > 0 {
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
        let services = try makeServices(config: config, configPath: configPath, registry: registry, logger: logger)
        logger.info("acoustic-edge starting", metadata: [
            "config": "\(configPath ?? "(defaults)")",
            "capture": "\(config.capture.source == .file ? config.capture.file ?? "" : config.capture.device)",
            "mqtt": "\(config.mqtt.enabled ? "\(config.mqtt.host):\(config.mqtt.port)" : "off")",
        ])
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("acoustic-edge stopped")
    }

    /// The services, in start order: the metrics endpoint (when `metrics.port` is set), the
    /// MQTT bridge (when `mqtt.enabled`), the agent. Shutdown runs the other way: the agent
    /// finishes the segment in flight before the bridge flushes its spool and goes offline.
    static func makeServices(config: AgentConfig, configPath: String?, registry: PrometheusCollectorRegistry,
                             logger: Logger) throws -> [any Service] {
        let controller = AgentController(config: config, configPath: configPath, logger: logger)
        let (inbox, post) = AsyncStream.makeStream(of: PendingCommand.self)
        var services: [any Service] = []
        if config.metrics.port > 0 {
            services.append(MetricsEndpoint(registry: registry, host: config.metrics.address, port: config.metrics.port,
                                            logger: logger))
        }
        var delivery: TensorPublisher? = nil
        if config.mqtt.enabled {
            let settings = MQTTSettings(config: config.mqtt)
            let meta = StreamMeta(birthSequence: StreamMeta.nextBirthSequence(folder: config.mqtt.spool.dir, logger: logger))
            let publisher = try TensorPublisher(config: config, logger: Logger(label: "acoustic-edge.mqtt"),
                                                status: { stats in
                                                    JSONValue.object(AgentStatus.fields(controller.snapshot,
                                                                                        uptime: seconds(since: controller.started),
                                                                                        bridge: stats)).text
                                                },
                                                birth: { meta.document(config: controller.config, setup: controller.setup,
                                                                       settings: settings) })
            delivery = publisher
            services.append(BridgeService(publisher: publisher, inbox: post, flushBudget: 15, logger: logger))
        }
        services.append(AgentService(controller: controller, delivery: delivery, commandInbox: inbox, logger: logger))
        return services
    }
}
