import Logging
import MQTTBridge
import ServiceLifecycle

/// The MQTT bridge as a `Service`: started with the group (it connects and resumes its spool
/// on its own thread); on graceful shutdown, which reaches it after the agent's service has
/// finished the segment in flight, it flushes the spool within `flushBudget` seconds and
/// disconnects, so the broker publishes the retained `{"state":"offline"}`.
struct BridgeService: Service {
    let publisher: TensorPublisher
    let flushBudget: Double
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let stats = await publisher.bridge.shutdown(flushWithin: flushBudget)
        logger.info("mqtt bridge stopped", metadata: [
            "delivered": "\(stats.delivered)", "spooled": "\(stats.spooledMessages)", "dropped": "\(stats.dropped)",
        ])
    }
}
