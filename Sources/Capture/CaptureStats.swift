import Synchronization

/// Counters of a running capture: what the status topic and the metrics report.
public struct CaptureStats: Sendable, Equatable {
    /// Segments completed by the capture thread (delivered or dropped).
    public var segments: Int
    /// Segments delivered to the consumer.
    public var delivered: Int
    /// Whole segments dropped because the consumer was behind.
    public var droppedSegments: Int
    /// ALSA overruns (xruns) and suspends recovered from.
    public var overruns: Int
    /// Times the device was closed and opened again (vanished, unrecoverable error).
    public var reopens: Int
    /// Frames captured in total.
    public var frames: Int64
}

/// Lock-free counters written by the capture thread, read by anyone.
final class CaptureCounters: Sendable {
    let segments = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let overruns = Atomic<Int>(0)
    let reopens = Atomic<Int>(0)
    let frames = Atomic<Int64>(0)
    /// 1 while the device is being reopened (for logging the transition once).
    let deviceDown = Atomic<Bool>(false)

    var snapshot: CaptureStats {
        CaptureStats(segments: segments.load(ordering: .relaxed),
                     delivered: delivered.load(ordering: .relaxed),
                     droppedSegments: dropped.load(ordering: .relaxed),
                     overruns: overruns.load(ordering: .relaxed),
                     reopens: reopens.load(ordering: .relaxed),
                     frames: frames.load(ordering: .relaxed))
    }
}
