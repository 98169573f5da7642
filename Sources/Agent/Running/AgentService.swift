import Capture
import Configuration
import Control
import Foundation
import Logging
import Operations
import Pipeline
import Segments
import ServiceLifecycle
import TensorFormats
import UnixSignals

/// The agent's work as one `Service`: capture -> pipeline -> mirror + delivery, obeying
/// commands, feeding systemd's watchdog, keeping the mirror bounded.
///
/// On graceful shutdown (SIGTERM, SIGINT) the capture stops first, the segment in flight is
/// finished, mirrored and handed over, then `run()` returns; the bridge's own service (started
/// before this one, so stopped after it) then flushes and goes offline.
struct AgentService: Service {
    let controller: AgentController
    let delivery: (any Delivery)?
    /// Commands from every channel (MQTT, the console), in arrival order.
    let commandInbox: AsyncStream<PendingCommand>
    let metrics: AgentMetrics
    let notifier: SystemdNotifier
    let logger: Logger
    /// Whether SIGHUP reloads the configuration (off in tests that run several agents).
    var reloadsOnHangup = true

    init(controller: AgentController, delivery: (any Delivery)?, commandInbox: AsyncStream<PendingCommand>,
         metrics: AgentMetrics = AgentMetrics(), notifier: SystemdNotifier = SystemdNotifier(), logger: Logger) {
        self.controller = controller
        self.delivery = delivery
        self.commandInbox = commandInbox
        self.metrics = metrics
        self.notifier = notifier
        self.logger = logger
    }

    var commands: AgentCommands { AgentCommands(controller: controller, delivery: delivery, logger: logger) }

    func run() async throws {
        let config = controller.config
        do {
            try controller.startCapture()
        } catch {
            notifier.status("failed: \(error)")
            throw AgentFailure("\(error)")
        }
        let snapshot = controller.snapshot
        notifier.ready(status: "running: \(snapshot.channels ?? 0) microphones, sources \(snapshot.sources.joined(separator: ","))")
        delivery?.statusChanged()

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                // Helpers that live as long as the processing: commands, watchdog, SIGHUP.
                group.addTask { await obeyCommands() }
                group.addTask { await tick(segmentSeconds: config.capture.segmentSeconds) }
                if reloadsOnHangup { group.addTask { await reloadOnHangup() } }
                // Processing ends only at shutdown (the capture stops, its segments run out).
                await processSegments()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: capture stops, the segment in flight finishes")
            notifier.stopping()
            controller.beginShutdown()
        }
        delivery?.statusChanged()
        logger.info("pipeline stopped", metadata: ["segments": "\(controller.snapshot.counters.segmentsProcessed)"])
    }

    // MARK: processing

    private func processSegments() async {
        var generation = 0
        while let (capture, current) = await controller.nextCapture(after: generation) {
            generation = current
            for await segment in capture.segments {
                if let request = controller.feedCalibration(segment) { commands.finishCalibration(request) }
                process(segment)
            }
            if !controller.isShuttingDown { controller.captureEnded(generation: current) }
            delivery?.statusChanged()
        }
    }

    private func process(_ segment: Segment) {
        guard let setup = controller.setup else { return }
        let config = controller.config
        let start = SegmentTime(secondsSinceEpoch: segment.startTime)
        let clock = ContinuousClock.now
        do {
            let (tensors, timings) = try setup.processor.process(segment.channelData)
            metrics.denoiseSeconds.recordSeconds(timings.denoise)
            metrics.separateSeconds.recordSeconds(timings.separate)
            metrics.melSeconds.recordSeconds(timings.mel)
            let record = setup.record(index: segment.index, firstSample: segment.firstSample, start: start,
                                      frames: segment.frames, overrun: segment.overrun, origin: describe(config.capture))
            if config.output.enabled {
                let mirrorClock = ContinuousClock.now
                try MirrorWriter(root: config.output.dir).write(record: record, start: start, tensors: tensors)
                metrics.mirrorSeconds.recordSeconds(seconds(since: mirrorClock))
                let swept = Retention(maxBytes: Int64(config.output.maxBytes), maxAgeSeconds: config.output.maxAge)
                    .sweep(root: config.output.dir)
                if !swept.removed.isEmpty {
                    logger.info("retention removed \(swept.removed.count) segment folders (\(swept.freedBytes) bytes)")
                }
            }
            delivery?.publish(record: record, tensors: tensors)
            metrics.segments.increment()
            if segment.overrun { metrics.overruns.increment() }
            metrics.segmentSeconds.recordSeconds(seconds(since: clock))
            controller.recordProgress(start: record.start, processed: true, error: nil)
            notifier.watchdog()
            logger.debug("segment processed", metadata: ["index": "\(segment.index)", "start": "\(record.start)",
                                                         "seconds": "\(String(format: "%.2f", seconds(since: clock)))"])
        } catch {
            metrics.droppedSegments.increment()
            controller.recordProgress(start: start.iso8601, processed: false, error: "\(error)")
            logger.error("segment \(segment.index) dropped: \(error)")
        }
        delivery?.statusChanged()
    }

    private func describe(_ capture: CaptureConfig) -> String {
        capture.source == .file ? (capture.file ?? "file") : capture.device
    }

    // MARK: commands, SIGHUP

    private func obeyCommands() async {
        for await pending in commandInbox where !Task.isCancelled {
            await commands.execute(pending.request, answer: pending.answer)
        }
    }

    private func reloadOnHangup() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals where !Task.isCancelled {
            notifier.reloading()
            do {
                let applied = try commands.reload()
                logger.notice("SIGHUP: \(applied)")
            } catch {
                logger.error("SIGHUP: reload refused, the running configuration is kept: \(error)")
                controller.noteError("reload: \(error)")
            }
            notifier.ready(status: "reloaded")
            delivery?.statusChanged()
        }
    }

    // MARK: watchdog, metrics

    private func tick(segmentSeconds: Double) async {
        let interval = notifier.watchdogInterval.map { min(max(Double($0.components.seconds) / 3, 0.5), 10) } ?? 5
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            let snap = controller.snapshot
            if WatchdogPolicy.shouldFeed(state: snap.state, secondsSinceProgress: snap.secondsSinceProgress,
                                         segmentSeconds: segmentSeconds) {
                notifier.watchdog()
            }
            if let stats = delivery?.stats {
                metrics.spooledMessages.record(stats.spooledMessages)
                metrics.deliveredMessages.record(stats.delivered)
                metrics.droppedMessages.record(stats.dropped)
                metrics.brokerConnected.record(stats.connected ? 1 : 0)
            }
            metrics.running.record(snap.state.isRunning ? 1 : 0)
        }
    }
}

/// A failure of the running agent, one line.
public struct AgentFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
