import Control
import MQTTBridge
import Pipeline
import TensorFormats

/// Where the agent's output goes besides the disk mirror: the tensors of each segment, and a
/// nudge when the status changed. `TensorPublisher` (MQTT) is the product's; tests give their
/// own to watch the agent without a broker.
protocol Delivery: Sendable {
    /// Hands every tensor of a segment over; returns how many were refused.
    @discardableResult
    func publish(record: SegmentRecord, tensors: [[Tensor]]) -> Int
    /// The status changed: publish it again.
    func statusChanged()
    /// The delivery's counters, for the status document and the metrics.
    var stats: MQTTStats { get }
}

/// A command waiting to be carried out, from whichever channel it came (MQTT, the console),
/// with the way back to whoever sent it.
struct PendingCommand: Sendable {
    /// The parsed request.
    var request: CommandRequest
    /// Sends the reply (exactly once per command).
    var answer: @Sendable (CommandReply) -> Void
}
