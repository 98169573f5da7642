import Capture
import Configuration
import Control
import Foundation
import Logging
import Pipeline
import Segments
import Synchronization

/// The running agent's state, shared by its tasks: the capture in use, the pipeline's stages,
/// the control state machine and the counters the status and the metrics report.
///
/// One lock guards it all; every critical section is a few field updates (no I/O, no waiting),
/// so the capture, processing and command tasks never block each other for long.
public final class AgentController: Sendable {
    struct Counters: Sendable {
        var segmentsProcessed = 0
        var droppedSegments = 0      // dropped by the pipeline (processing failed)
        var captureDropped = 0       // dropped by capture (processing behind), previous captures
        var captureOverruns = 0      // previous captures
        var lastError: String?
        var lastSegmentStart: String?
        var lastProgress = ContinuousClock.now
    }

    /// A `calibrate` command being served from the running capture's segments.
    struct CalibrationRequest: Sendable {
        /// Seconds of noise to record.
        var seconds: Double
        /// Where the noise profile is written.
        var path: String
        /// Segments collected so far.
        var segments: [Segment] = []
        /// Answers the command once the profile is written (or failed).
        var reply: @Sendable (Result<String, Error>) -> Void
    }

    struct State: Sendable {
        var control = ControlStateMachine(state: .running)
        var capture: AudioCapture?
        var captureGeneration = 0
        var setup: PipelineSetup?
        var config: AgentConfig
        var counters = Counters()
        var shuttingDown = false
        var endOfFile = false
        var calibration: CalibrationRequest?
    }

    let started = ContinuousClock.now
    let startedAt = Date()
    let configPath: String?
    private let state: Mutex<State>
    private let captureChanged = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    let logger: Logger

    /// A controller for an agent running `config` (read from `configPath`, when given).
    public init(config: AgentConfig, configPath: String?, logger: Logger) {
        self.state = Mutex(State(config: config))
        self.configPath = configPath
        self.logger = logger
    }

    var config: AgentConfig { state.withLock { $0.config } }
    var setup: PipelineSetup? { state.withLock { $0.setup } }
    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }
    var isCapturing: Bool { state.withLock { $0.capture != nil } }

    /// Opens the capture (device or file) and, once its channel count is known, builds the
    /// pipeline's stages for it (model and noise profile loaded once).
    func startCapture() throws {
        let config = self.config
        let capture = try AudioCapture(settings: CaptureSettings(config: config.capture), logger: logger)
        let format = try capture.start()
        let needsSetup = state.withLock { s in s.setup == nil || s.setup!.processor.channels != format.channels }
        if needsSetup {
            do {
                let setup = try PipelineSetup(settings: PipelineSettings(config: config), channels: format.channels,
                                              inputName: "\(format.device)")
                state.withLock { $0.setup = setup }
            } catch {
                capture.stop()
                throw error
            }
        }
        state.withLock {
            $0.capture = capture
            $0.captureGeneration += 1
            $0.endOfFile = false
        }
        captureChanged.continuation.yield()
        logger.info("capture running", metadata: ["format": "\(format)", "sources": "\(setup?.processor.sources ?? [])"])
    }

    /// Stops the capture (the segment being processed finishes); its counters are kept. With
    /// `drain` the whole segments already captured are still delivered (graceful shutdown);
    /// without it they are discarded and the device is closed before this returns (a `start`
    /// may reopen it at once).
    func stopCapture(drain: Bool = false) {
        let capture = state.withLock { s -> AudioCapture? in
            let c = s.capture
            s.capture = nil
            if let c {
                let stats = c.stats
                s.counters.captureDropped += stats.droppedSegments
                s.counters.captureOverruns += stats.overruns
            }
            return c
        }
        if drain { capture?.finish() } else { capture?.stop() }
        captureChanged.continuation.yield()
    }

    /// The capture whose segments to process next; waits while there is none. Nil once the
    /// agent shuts down.
    func nextCapture(after generation: Int) async -> (AudioCapture, Int)? {
        var iterator = captureChanged.stream.makeAsyncIterator()
        while true {
            let current = state.withLock { s -> (AudioCapture?, Int, Bool) in (s.capture, s.captureGeneration, s.shuttingDown) }
            if current.2 { return nil }
            if let capture = current.0, current.1 != generation { return (capture, current.1) }
            if await iterator.next() == nil { return nil }
        }
    }

    /// Begins shutdown: no new capture; the current one stops.
    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
        stopCapture(drain: true)
        captureChanged.continuation.finish()
    }

    /// The end of a replayed file (no `loop`): the agent stays up, stopped.
    func captureEnded(generation: Int) {
        let ended = state.withLock { s -> Bool in
            guard s.captureGeneration == generation, s.capture != nil, !s.shuttingDown else { return false }
            s.endOfFile = true
            _ = s.control.apply(.stop)
            return true
        }
        if ended {
            logger.notice("capture source ended (end of file, capture.loop is false); the agent stays up, stopped")
            stopCapture()
        }
    }

    func applyCommand(_ command: AgentCommand) -> Result<ControlStateMachine.Effect, CommandRefusal> {
        state.withLock { $0.control.apply(command) }
    }

    func calibrationEnded() { state.withLock { $0.control.calibrationEnded() } }

    func recordProgress(start: String, processed: Bool, error: String?) {
        state.withLock {
            if processed { $0.counters.segmentsProcessed += 1 } else { $0.counters.droppedSegments += 1 }
            if let error { $0.counters.lastError = error }
            $0.counters.lastSegmentStart = start
            $0.counters.lastProgress = .now
        }
    }

    func noteError(_ message: String) { state.withLock { $0.counters.lastError = message } }

    /// Replaces the stages (after calibrate or reload).
    func replace(config: AgentConfig, setup: PipelineSetup?) {
        state.withLock {
            $0.config = config
            if let setup { $0.setup = setup }
        }
    }

    /// Arms a calibration from the running capture's next segments.
    func armCalibration(seconds: Double, path: String, reply: @escaping @Sendable (Result<String, Error>) -> Void) {
        state.withLock { $0.calibration = CalibrationRequest(seconds: seconds, path: path, reply: reply) }
    }

    /// Hands a captured segment to a pending calibration; returns the collected segments and
    /// the request once enough audio was gathered.
    func feedCalibration(_ segment: Segment) -> CalibrationRequest? {
        state.withLock { s in
            guard var request = s.calibration else { return nil }
            request.segments.append(segment)
            let frames = request.segments.reduce(0) { $0 + $1.frames }
            guard Double(frames) >= request.seconds * Double(segment.sampleRate) else {
                s.calibration = request
                return nil
            }
            s.calibration = nil
            return request
        }
    }

    /// Counters of this agent and of the capture now running.
    struct Snapshot: Sendable {
        var state: ControlStateMachine.State
        var counters: Counters
        var capture: CaptureStats?
        var model: String?
        var sources: [String]
        var channels: Int?
        var sampleRate: Int
        var endOfFile: Bool
        var secondsSinceProgress: Double
    }

    var snapshot: Snapshot {
        state.withLock { s in
            let since = ContinuousClock.now - s.counters.lastProgress
            return Snapshot(state: s.control.state, counters: s.counters, capture: s.capture?.stats, model: s.setup?.model.name,
                            sources: s.setup?.processor.sources ?? [], channels: s.setup?.processor.channels,
                            sampleRate: s.config.capture.sampleRate, endOfFile: s.endOfFile,
                            secondsSinceProgress: Double(since.components.seconds))
        }
    }
}
