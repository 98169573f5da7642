import Control
import Foundation
import MQTTBridge

/// The retained status document on `{prefix}/status` (and the `status` command's reply).
enum AgentStatus {
    static func fields(_ s: AgentController.Snapshot, uptime: Double, bridge: MQTTStats?) -> [String: JSONValue] {
        var f: [String: JSONValue] = [
            "state": .string(s.state.name),
            "uptime_s": .number((uptime * 10).rounded() / 10),
            "segments": .number(Double(s.counters.segmentsProcessed)),
            "dropped_segments": .number(Double(s.counters.droppedSegments + s.counters.captureDropped + (s.capture?.droppedSegments ?? 0))),
            "capture_overruns": .number(Double(s.counters.captureOverruns + (s.capture?.overruns ?? 0))),
            "sources": .array(s.sources.map { .string($0) }),
            "sample_rate": .number(Double(s.sampleRate)),
            "model": s.model.map { .string($0) } ?? .null,
        ]
        if let channels = s.channels { f["microphones"] = .number(Double(channels)) }
        if let last = s.counters.lastSegmentStart { f["last_segment_start"] = .string(last) }
        if s.endOfFile { f["note"] = .string("capture file ended (capture.loop false)") }
        // The delivery side: spool and command counters, its current problem and time, the
        // problems that ended.
        if let bridge { f.merge(MQTTBridge.statusFields(bridge)) { _, delivery in delivery } }
        if let error = s.counters.lastError {
            f["last_error"] = .string(error)
            f["last_error_at"] = nil
        }
        return f
    }
}
