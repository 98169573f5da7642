import Capture
import Configuration
import Foundation
import Logging
import MQTTBridge
import Operations
import Pipeline
import ServiceLifecycle
import TensorFormats
import UnixSignals

/// The agent's work as one `Service`: capture -> pipeline -> mirror + publish, obeying
/// commands, feeding systemd's watchdog, keeping the mirror bounded.
///
/// On graceful shutdown (SIGTERM, SIGINT) the capture stops first, the segment in flight is
/// finished, mirrored and handed to the bridge, then `run()` returns; the bridge's own service
/// (started before this one, so stopped after it) then flushes and goes offline.
struct AgentService: Service {
    let controller: AgentController
    let publisher: TensorPublisher?
    let metrics: AgentMetrics
    let notifier = SystemdNotifier()
    let logger: Logger

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
        publisher?.bridge.publishStatus()

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                // Helpers that live as long as the processing: commands, watchdog, SIGHUP.
                group.addTask { await obeyCommands() }
                group.addTask { await tick(config: config) }
                group.addTask { await reloadOnHangup() }
                // Processing ends only at shutdown (the capture stops, its segments run out).
                await processSegments()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: capture stops, the segment in flight finishes")
            notifier.stopping()
            controller.beginShutdown()
        }
        publisher?.bridge.publishStatus()
        logger.info("pipeline stopped", metadata: ["segments": "\(controller.snapshot.counters.segmentsProcessed)"])
    }

    // MARK: processing

    private func processSegments() async {
        var generation = 0
        while let (capture, current) = await controller.nextCapture(after: generation) {
            generation = current
            for await segment in capture.segments {
                if let request = controller.feedCalibration(segment) { finishCalibration(request) }
                process(segment)
            }
            if !controller.isShuttingDown { controller.captureEnded(generation: current) }
            publisher?.bridge.publishStatus()
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
            publisher?.publish(record: record, tensors: tensors)
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
        publisher?.bridge.publishStatus()
    }

    private func describe(_ capture: CaptureConfig) -> String {
        capture.source == .file ? (capture.file ?? "file") : capture.device
    }

    // MARK: commands

    private func obeyCommands() async {
        guard let bridge = publisher?.bridge else { return }
        for await command in bridge.commands where !Task.isCancelled {
            let name = command.request.command.name
            logger.info("command received", metadata: ["command": "\(name)", "id": "\(command.request.id ?? "")"])
            let reply: DeferredReply
            switch controller.applyCommand(command.request.command) {
            case .failure(let refusal):
                reply = DeferredReply(CommandReply(id: command.request.id, command: name, ok: false, error: refusal.reason))
            case .success(let effect):
                reply = await carry(effect, for: command)
            }
            if reply.isDeferred { continue }
            logger.info("command \(name): \(reply.value.ok ? "ok" : "refused: \(reply.value.error ?? "")")")
            bridge.reply(to: command, reply.value)
            bridge.publishStatus()
        }
    }

    /// Carries out a command's effect; the reply (deferred for calibrate, answered when done).
    private func carry(_ effect: ControlStateMachine.Effect, for command: IncomingCommand) async -> DeferredReply {
        let id = command.request.id
        let name = command.request.command.name
        switch effect {
        case .none:
            return DeferredReply(CommandReply(id: id, command: name, ok: true, result: statusFields()))
        case .reportStatus:
            return DeferredReply(CommandReply(id: id, command: name, ok: true, result: statusFields()))
        case .pauseCapture:
            controller.stopCapture()
            return DeferredReply(CommandReply(id: id, command: name, ok: true, result: statusFields()))
        case .resumeCapture:
            do {
                try controller.startCapture()
                return DeferredReply(CommandReply(id: id, command: name, ok: true, result: statusFields()))
            } catch {
                _ = controller.applyCommand(.stop)
                controller.noteError("start: \(error)")
                return DeferredReply(CommandReply(id: id, command: name, ok: false, error: "\(error)"))
            }
        case .calibrate(let seconds):
            return calibrate(seconds: seconds ?? 5, command: command)
        case .reload:
            do {
                let changes = try reload()
                return DeferredReply(CommandReply(id: id, command: name, ok: true, result: ["applied": .string(changes)]))
            } catch {
                return DeferredReply(CommandReply(id: id, command: name, ok: false, error: "\(error)"))
            }
        }
    }

    private func calibrate(seconds: Double, command: IncomingCommand) -> DeferredReply {
        let config = controller.config
        let path = config.denoise.noiseProfile ?? "noise_profile.pt"
        let bridge = publisher?.bridge
        let answer: @Sendable (Result<String, Error>) -> Void = { [controller, logger] result in
            controller.calibrationEnded()
            let reply: CommandReply
            switch result {
            case .success(let written):
                reply = CommandReply(id: command.request.id, command: "calibrate", ok: true,
                                     result: ["noise_profile": .string(written), "seconds": .number(seconds)])
                logger.notice("calibrated: noise profile \(written) (\(seconds) s); denoise switched to it")
            case .failure(let error):
                controller.noteError("calibrate: \(error)")
                reply = CommandReply(id: command.request.id, command: "calibrate", ok: false, error: "\(error)")
            }
            bridge?.reply(to: command, reply)
            bridge?.publishStatus()
        }
        if controller.snapshot.channels != nil, controller.isCapturing {
            // Capturing: the next segments are the noise recording (they are processed too).
            controller.armCalibration(seconds: seconds, path: path, reply: answer)
        } else {
            // Stopped: record from the source directly, off the processing task.
            Task {
                do {
                    let profile = try await NoiseCalibration.record(settings: CaptureSettings(config: config.capture), seconds: seconds, logger: logger)
                    try adopt(profile, path: path)
                    answer(.success(path))
                } catch {
                    answer(.failure(error))
                }
            }
        }
        return .deferred
    }

    private func finishCalibration(_ request: AgentController.CalibrationRequest) {
        do {
            let profile = try NoiseCalibration.profile(from: request.segments, seconds: request.seconds)
            try adopt(profile, path: request.path)
            request.reply(.success(request.path))
        } catch {
            request.reply(.failure(error))
        }
    }

    /// Writes the profile and switches denoise to it (stationary, from the next segment on).
    private func adopt(_ profile: NoiseProfile, path: String) throws {
        try profile.write(to: path)
        var config = controller.config
        config.denoise.enabled = true
        config.denoise.stationary = true
        config.denoise.noiseProfile = path
        let setup = try PipelineSetup(config: config, channels: profile.channelData.count, inputName: "the capture")
        controller.replace(config: config, setup: setup)
    }

    /// Reads the configuration file again; applies what can change while running (denoise,
    /// separator, mel, output); a bad file is refused and the running configuration kept.
    private func reload() throws -> String {
        guard let path = controller.configPath else { throw AgentFailure("no --config file to reload") }
        let fresh = try AgentConfig.load(path: path)
        let current = controller.config
        let channels = controller.snapshot.channels ?? max(fresh.capture.channels, 1)
        let setup = try PipelineSetup(config: fresh, channels: channels, inputName: "the capture")
        var applied = fresh
        var notes = ["denoise, separator, mel and output settings applied"]
        if fresh.capture != current.capture { applied.capture = current.capture; notes.append("capture.* changes need a restart") }
        if fresh.mqtt != current.mqtt { applied.mqtt = current.mqtt; notes.append("mqtt.* changes need a restart") }
        if fresh.metrics != current.metrics { applied.metrics = current.metrics; notes.append("metrics.* changes need a restart") }
        controller.replace(config: applied, setup: setup)
        logger.notice("configuration reloaded from \(path)")
        return notes.joined(separator: "; ")
    }

    private func reloadOnHangup() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals where !Task.isCancelled {
            notifier.reloading()
            do {
                let applied = try reload()
                logger.notice("SIGHUP: \(applied)")
            } catch {
                logger.error("SIGHUP: reload refused, the running configuration is kept: \(error)")
                controller.noteError("reload: \(error)")
            }
            notifier.ready(status: "reloaded")
            publisher?.bridge.publishStatus()
        }
    }

    // MARK: status, watchdog, metrics

    func statusFields() -> [String: JSONValue] {
        AgentStatus.fields(controller.snapshot, uptime: seconds(since: controller.started), bridge: publisher?.bridge.stats)
    }

    private func tick(config: AgentConfig) async {
        let segmentSeconds = config.capture.segmentSeconds
        let interval = notifier.watchdogInterval.map { min(max(Double($0.components.seconds) / 3, 0.5), 10) } ?? 5
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            let snap = controller.snapshot
            // Feed the watchdog while the pipeline keeps up or the agent is idle by choice; a
            // running pipeline without a segment for 3 segment lengths is stuck: stop feeding.
            if snap.state != "running" || snap.secondsSinceProgress < 3 * segmentSeconds + 10 {
                notifier.watchdog()
            }
            if let stats = publisher?.bridge.stats {
                metrics.spooledMessages.record(stats.spooledMessages)
                metrics.deliveredMessages.record(stats.delivered)
                metrics.droppedMessages.record(stats.dropped)
                metrics.brokerConnected.record(stats.connected ? 1 : 0)
            }
            metrics.running.record(snap.state == "running" ? 1 : 0)
        }
    }
}

/// A reply now, or later (calibrate answers when the recording is done).
struct DeferredReply {
    let value: CommandReply
    let isDeferred: Bool
    init(_ value: CommandReply) { self.value = value; self.isDeferred = false }
    private init() { value = CommandReply(id: nil, command: nil, ok: true); isDeferred = true }
    static let deferred = DeferredReply()
}

/// A failure of the running agent, one line.
struct AgentFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

