import Metrics

/// The agent's metrics (swift-metrics; exposed as Prometheus text by `MetricsEndpoint`).
struct AgentMetrics: Sendable {
    let segments = Counter(label: "acoustic_edge_segments_total")
    let droppedSegments = Counter(label: "acoustic_edge_dropped_segments_total")
    let overruns = Counter(label: "acoustic_edge_capture_overruns_total")
    let denoiseSeconds = Timer(label: "acoustic_edge_stage_seconds", dimensions: [("stage", "denoise")])
    let separateSeconds = Timer(label: "acoustic_edge_stage_seconds", dimensions: [("stage", "separate")])
    let melSeconds = Timer(label: "acoustic_edge_stage_seconds", dimensions: [("stage", "mel")])
    let mirrorSeconds = Timer(label: "acoustic_edge_stage_seconds", dimensions: [("stage", "mirror")])
    let segmentSeconds = Timer(label: "acoustic_edge_segment_seconds")
    let spooledMessages = Gauge(label: "acoustic_edge_spooled_messages")
    let deliveredMessages = Gauge(label: "acoustic_edge_delivered_messages")
    let droppedMessages = Gauge(label: "acoustic_edge_dropped_messages")
    let brokerConnected = Gauge(label: "acoustic_edge_broker_connected")
    let running = Gauge(label: "acoustic_edge_running")
}
