import Configuration
import Foundation
import Logging
import MQTTBridge
import Pipeline
import TensorFormats

/// Publishes a segment's tensors: one message per microphone and source on
/// `{prefix}/mic{i}/{source}`, payload in `mqtt.payload` format with `mqtt.payload_dtype`
/// elements (the same bytes as the mirror's file for `pt` float32), MQTT v5 user properties
/// `mic`, `source`, `segment_start`, `segment_index`, `sample_rate`, `model` (also in the
/// safetensors metadata) and the format's content type. A tensor sent from the spool's backlog
/// also carries `replayed: true`: as a user property always (added by the bridge), and in the
/// safetensors metadata (spliced into the stored payload's header as it is sent again; `.pt`
/// and `.npy` have no metadata, so for them the user property is the record).
public struct TensorPublisher: Delivery {
    /// The bridge it publishes through.
    public let bridge: MQTTBridge
    /// The payload encoding (`mqtt.payload`).
    let payload: TensorFormat
    /// The payload's element type (`mqtt.payload_dtype`).
    let dtype: TensorElementType

    /// A publisher on a new bridge for `config.mqtt` (started here). `birth` makes the
    /// retained `{prefix}/meta` document (``StreamMeta``), nil = none.
    public init(config: AgentConfig, logger: Logger = Logger(label: "acoustic-edge.mqtt"),
                status: (@Sendable (MQTTStats) -> String)? = nil, birth: (@Sendable () -> String?)? = nil) throws {
        bridge = try MQTTBridge(settings: MQTTSettings(config: config.mqtt), logger: logger,
                                status: status ?? MQTTBridge.defaultStatus, birth: birth,
                                markReplayed: Self.markReplayed)
        payload = config.mqtt.payload
        dtype = config.mqtt.payloadDType == .float16 ? .float16 : .float32
        bridge.start()
    }

    /// A backlog message's payload: a safetensors one gets `replayed: "true"` in its
    /// metadata (its tensor bytes copied unchanged); other formats are sent as they are.
    @Sendable static func markReplayed(contentType: String?, payload: [UInt8]) -> [UInt8] {
        guard contentType == TensorFormat.safetensors.mediaType,
              let marked = try? SafeTensorsFormat.addingMetadata(["replayed": "true"], to: payload) else { return payload }
        return marked
    }

    /// Hands every tensor of a segment to the bridge; returns how many the bridge refused
    /// (its hand-over queue full: counted in its stats).
    @discardableResult
    public func publish(record: SegmentRecord, tensors: [[Tensor]]) -> Int {
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
                                              payload: payload.encode(tensor, metadata: metadata, dtype: dtype),
                                              userProperties: facts, contentType: payload.mediaType)
                if !bridge.publish(message) { refused += 1 }
            }
        }
        return refused
    }

    func statusChanged() { bridge.publishStatus() }

    var stats: MQTTStats { bridge.stats }

    /// Flushes what is queued (within `seconds`) and disconnects cleanly; returns the final
    /// counters (`spooledMessages` still waiting for the next start).
    public func finish(within seconds: Double = 20) async -> MQTTStats {
        await bridge.shutdown(flushWithin: seconds)
    }
}
