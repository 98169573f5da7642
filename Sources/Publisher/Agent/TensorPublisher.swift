import Configuration
import Foundation
import Logging
import MQTTBridge
import Pipeline
import TensorFormats

/// Publishes a segment's tensors: one message per microphone and source on
/// `{prefix}/mic{i}/{source}`, payload in `mqtt.payload` format (the same bytes as the mirror's
/// file for `pt`), MQTT v5 user properties `mic`, `source`, `segment_start`, `segment_index`,
/// `sample_rate`, `model` (also in the safetensors metadata) and a content type.
struct TensorPublisher: Sendable {
    let bridge: MQTTBridge
    let payload: TensorFile.Format
    let config: MQTTConfig

    /// A publisher on a new bridge for `config.mqtt` (started here).
    init(config: AgentConfig, logger: Logger = Logger(label: "acoustic-edge.mqtt"),
         status: (@Sendable (MQTTStats) -> String)? = nil) throws {
        let settings = MQTTSettings(config.mqtt)
        bridge = try MQTTBridge(settings: settings, logger: logger, status: status ?? MQTTBridge.defaultStatus)
        payload = TensorFile.Format(rawValue: config.mqtt.payload.rawValue) ?? .pt
        self.config = config.mqtt
        bridge.start()
    }

    /// Hands every tensor of a segment to the bridge; returns how many the bridge refused
    /// (its hand-over queue full: counted in its stats).
    @discardableResult
    func publish(record: SegmentRecord, tensors: [[Tensor]]) -> Int {
        var refused = 0
        for (mic, perSource) in tensors.enumerated() {
            for (source, tensor) in zip(record.sources, perSource) {
                let facts: [(name: String, value: String)] = [
                    ("mic", String(mic)), ("source", source), ("segment_start", record.start),
                    ("segment_index", String(record.segmentIndex)), ("sample_rate", String(record.sampleRate)),
                    ("model", record.model ?? "none"),
                ]
                var metadata: [String: String] = [:]
                for fact in facts { metadata[fact.name] = fact.value }
                let message = OutgoingMessage(topic: bridge.settings.tensorTopic(mic: mic, source: source),
                                              payload: payload.encode(tensor, metadata: metadata),
                                              userProperties: facts, contentType: PayloadContentType.of(config.payload))
                if !bridge.publish(message) { refused += 1 }
            }
        }
        return refused
    }

    /// Flushes what is queued (within `seconds`) and disconnects cleanly.
    func finish(within seconds: Double = 20) async throws {
        let stats = await bridge.shutdown(flushWithin: seconds)
        if stats.spooledMessages > 0 {
            Failure.writeToStandardError("mqtt: \(stats.spooledMessages) messages still spooled for the next start\(stats.lastError.map { " (\($0))" } ?? "")\n")
        }
    }
}
