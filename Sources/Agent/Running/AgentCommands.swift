import Capture
import Configuration
import Control
import Foundation
import Logging
import Pipeline
import Segments

/// Carries out the agent's commands (`start`, `stop`, `status`, `calibrate`, `reload`),
/// whichever channel they came from: every command goes through `execute`, which applies it
/// to the control state machine, does what it asks and answers exactly once (`calibrate`
/// answers when the recording is done).
struct AgentCommands: Sendable {
    let controller: AgentController
    let delivery: (any Delivery)?
    let logger: Logger

    /// Carries out `request` and answers it through `answer`.
    func execute(_ request: CommandRequest, answer: @escaping @Sendable (CommandReply) -> Void) async {
        let name = request.command.name
        logger.info("command received", metadata: ["command": "\(name)", "id": "\(request.id ?? "")"])
        let finish: @Sendable (CommandReply) -> Void = { [logger, delivery] reply in
            logger.info("command \(name): \(reply.ok ? "ok" : "refused: \(reply.error ?? "")")")
            answer(reply)
            delivery?.statusChanged()
        }
        switch controller.applyCommand(request.command) {
        case .failure(let refusal):
            finish(CommandReply(id: request.id, command: name, ok: false, error: refusal.reason))
        case .success(let effect):
            await carry(effect, request: request, finish: finish)
        }
    }

    private func carry(_ effect: ControlStateMachine.Effect, request: CommandRequest,
                       finish: @escaping @Sendable (CommandReply) -> Void) async {
        let id = request.id
        let name = request.command.name
        switch effect {
        case .none, .reportStatus:
            finish(CommandReply(id: id, command: name, ok: true, result: statusFields()))
        case .pauseCapture:
            controller.stopCapture()
            finish(CommandReply(id: id, command: name, ok: true, result: statusFields()))
        case .resumeCapture:
            do {
                try controller.startCapture()
                finish(CommandReply(id: id, command: name, ok: true, result: statusFields()))
            } catch {
                _ = controller.applyCommand(.stop)
                controller.noteError("start: \(error)")
                finish(CommandReply(id: id, command: name, ok: false, error: "\(error)"))
            }
        case .calibrate(let seconds):
            calibrate(seconds: seconds ?? Self.defaultCalibrationSeconds, id: id, finish: finish)
        case .reload:
            do {
                let changes = try reload()
                finish(CommandReply(id: id, command: name, ok: true, result: ["applied": .string(changes)]))
            } catch {
                finish(CommandReply(id: id, command: name, ok: false, error: "\(error)"))
            }
        }
    }

    /// Seconds of noise a `calibrate` without `seconds` records.
    static let defaultCalibrationSeconds = 5.0

    /// The noise profile a `calibrate` writes when `denoise.noise_profile` names none.
    static let defaultNoiseProfile = "noise_profile.pt"

    private func calibrate(seconds: Double, id: String?, finish: @escaping @Sendable (CommandReply) -> Void) {
        let config = controller.config
        let path = config.denoise.noiseProfile ?? Self.defaultNoiseProfile
        let done: @Sendable (Result<String, Error>) -> Void = { [controller, logger] result in
            controller.calibrationEnded()
            switch result {
            case .success(let written):
                logger.notice("calibrated: noise profile \(written) (\(seconds) s); denoise switched to it")
                finish(CommandReply(id: id, command: "calibrate", ok: true,
                                    result: ["noise_profile": .string(written), "seconds": .number(seconds)]))
            case .failure(let error):
                controller.noteError("calibrate: \(error)")
                finish(CommandReply(id: id, command: "calibrate", ok: false, error: "\(error)"))
            }
        }
        if controller.snapshot.channels != nil, controller.isCapturing {
            // Capturing: the next segments are the noise recording (they are processed too);
            // the processing loop hands them over (`finishCalibration`).
            controller.armCalibration(seconds: seconds, path: path, reply: done)
        } else {
            // Stopped: record from the source directly, off the processing task.
            Task { [self] in
                do {
                    let profile = try await NoiseCalibration.record(settings: CaptureSettings(config: config.capture),
                                                                    seconds: seconds, logger: logger)
                    try adopt(profile, path: path)
                    done(.success(path))
                } catch {
                    done(.failure(error))
                }
            }
        }
    }

    /// Ends a calibration armed on the running capture, once its segments are collected.
    func finishCalibration(_ request: AgentController.CalibrationRequest) {
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
        let setup = try PipelineSetup(settings: PipelineSettings(config: config), channels: profile.channelData.count,
                                      inputName: "the capture")
        controller.replace(config: config, setup: setup)
    }

    /// Reads the configuration file again; applies what can change while running (denoise,
    /// separator, mel, output); a bad file is refused and the running configuration kept.
    func reload() throws -> String {
        guard let path = controller.configPath else { throw AgentFailure("no --config file to reload") }
        let fresh = try AgentConfig.load(path: path)
        let current = controller.config
        let channels = controller.snapshot.channels ?? max(fresh.capture.channels, 1)
        let setup = try PipelineSetup(settings: PipelineSettings(config: fresh), channels: channels, inputName: "the capture")
        var applied = fresh
        var notes = ["denoise, separator, mel and output settings applied"]
        if fresh.capture != current.capture { applied.capture = current.capture; notes.append("capture.* changes need a restart") }
        if fresh.mqtt != current.mqtt { applied.mqtt = current.mqtt; notes.append("mqtt.* changes need a restart") }
        if fresh.metrics != current.metrics { applied.metrics = current.metrics; notes.append("metrics.* changes need a restart") }
        controller.replace(config: applied, setup: setup)
        logger.notice("configuration reloaded from \(path)")
        return notes.joined(separator: "; ")
    }

    /// The status document's fields now.
    func statusFields() -> [String: JSONValue] {
        AgentStatus.fields(controller.snapshot, uptime: seconds(since: controller.started), bridge: delivery?.stats)
    }
}
