/// A command an operator sends on `{prefix}/cmd`.
public enum AgentCommand: Sendable, Equatable {
    /// Resume capture (the client stays connected either way).
    case start
    /// Pause capture.
    case stop
    /// Reply with the current status.
    case status
    /// Record the ambient noise for `seconds` (nil = the agent's default), write the noise
    /// profile and switch denoising to it.
    case calibrate(seconds: Double?)
    /// Read the configuration again.
    case reload

    /// The command's name as sent (`"start"`, ...).
    public var name: String {
        switch self {
        case .start: return "start"
        case .stop: return "stop"
        case .status: return "status"
        case .calibrate: return "calibrate"
        case .reload: return "reload"
        }
    }
}

/// A well-formed command request: the command and the request's `id` (echoed in the reply).
public struct CommandRequest: Sendable, Equatable {
    /// What to do.
    public var command: AgentCommand
    /// The request's id, nil when it gave none.
    public var id: String?

    /// A request for `command`, answered with `id`.
    public init(command: AgentCommand, id: String?) {
        self.command = command
        self.id = id
    }
}

/// A refused request: why, plus what could be read of it for the reply.
public struct CommandRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request's id when it could be read.
    public var id: String?
    /// The command's name when it could be read.
    public var command: String?
    /// Why it is refused, one line.
    public var reason: String
    /// The reason.
    public var description: String { reason }
}

/// The reply to a command: `{"id": ..., "command": ..., "ok": true|false, "error": ...}`
/// plus the command's result fields (e.g. the status document for `status`).
public struct CommandReply: Sendable, Equatable {
    /// The request's id (JSON null when it had none).
    public var id: String?
    /// The command's name, when known.
    public var command: String?
    /// Whether the command was carried out.
    public var ok: Bool
    /// Why not, when `ok` is false.
    public var error: String?
    /// Extra fields of the reply.
    public var result: [String: JSONValue]

    /// A reply; `result` fields never override `id`, `command`, `ok`, `error`.
    public init(id: String?, command: String?, ok: Bool, error: String? = nil, result: [String: JSONValue] = [:]) {
        self.id = id
        self.command = command
        self.ok = ok
        self.error = error
        self.result = result
    }

    /// The reply of a refused request.
    public init(refusal: CommandRefusal) {
        self.init(id: refusal.id, command: refusal.command, ok: false, error: refusal.reason)
    }

    /// The reply as compact JSON.
    public var json: String {
        var object = result
        object["id"] = id.map(JSONValue.string) ?? .null
        if let command { object["command"] = .string(command) }
        object["ok"] = .bool(ok)
        if let error { object["error"] = .string(error) }
        return JSONValue.object(object).text
    }
}

/// Turns the payload of a `{prefix}/cmd` message into a typed request or a refusal.
/// Pure (no I/O, no state): it is fuzzed with random and mutated payloads.
///
/// Accepted: a JSON object with `"command"` (string: start, stop, status, calibrate,
/// reload), optional `"id"` (string), for `calibrate` optional `"seconds"` (number,
/// 0 < seconds <= 3600). Other keys are ignored. Anything else is refused with a reason.
public enum CommandParser {
    /// Larger payloads are refused without being parsed.
    public static let maxPayloadBytes = 16 * 1024
    /// Longest calibration accepted, in seconds.
    public static let maxCalibrationSeconds = 3600.0

    /// Parses one payload.
    public static func parse(_ payload: [UInt8]) -> Result<CommandRequest, CommandRefusal> {
        if payload.count > maxPayloadBytes {
            return .failure(CommandRefusal(reason: "command larger than \(maxPayloadBytes) bytes"))
        }
        guard let value = JSONValue.parse(payload) else {
            return .failure(CommandRefusal(reason: "malformed JSON"))
        }
        guard case .object(let object) = value else {
            return .failure(CommandRefusal(reason: "a command is a JSON object"))
        }
        var id: String? = nil
        switch object["id"] {
        case nil, .null?: break
        case .string(let text)?: id = text
        default: return .failure(CommandRefusal(reason: "\"id\" must be a string"))
        }
        guard let commandValue = object["command"] else {
            return .failure(CommandRefusal(id: id, reason: "missing \"command\""))
        }
        guard case .string(let name) = commandValue else {
            return .failure(CommandRefusal(id: id, reason: "\"command\" must be a string"))
        }
        let command: AgentCommand
        switch name {
        case "start": command = .start
        case "stop": command = .stop
        case "status": command = .status
        case "reload": command = .reload
        case "calibrate":
            switch object["seconds"] {
            case nil, .null?:
                command = .calibrate(seconds: nil)
            case .number(let seconds)?:
                guard seconds > 0, seconds <= maxCalibrationSeconds else {
                    return .failure(CommandRefusal(id: id, command: name,
                        reason: "\"seconds\" must be in (0, \(Int(maxCalibrationSeconds))]"))
                }
                command = .calibrate(seconds: seconds)
            default:
                return .failure(CommandRefusal(id: id, command: name, reason: "\"seconds\" must be a number"))
            }
        default:
            let shown = name.count > 40 ? String(name.prefix(40)) + "..." : name
            return .failure(CommandRefusal(id: id, command: nil, reason: "unknown command \"\(shown)\""))
        }
        return .success(CommandRequest(command: command, id: id))
    }
}

/// The agent's control state and what each command does to it: a pure state machine the
/// agent consults before acting (no I/O). `start`/`stop` are idempotent; a calibration
/// refuses `start`, `stop`, `reload` and another `calibrate` until it ends.
public struct ControlStateMachine: Sendable, Equatable {
    /// Capture state.
    public enum State: Sendable, Equatable {
        /// Capturing and processing.
        case running
        /// Capture paused (still connected, still answering).
        case stopped
        /// Recording the noise profile; then back to `resume`.
        case calibrating(resume: ResumeState)

        /// The state's name in the status document and the metrics: `running`, `stopped`,
        /// `calibrating`.
        public var name: String {
            switch self {
            case .running: "running"
            case .stopped: "stopped"
            case .calibrating: "calibrating"
            }
        }

        /// Whether the agent is `running`: the state in which the watchdog expects segments.
        public var isRunning: Bool { self == .running }
    }
    /// Where a calibration returns to.
    public enum ResumeState: Sendable, Equatable {
        /// Capture was running.
        case running
        /// Capture was paused.
        case stopped
    }

    /// What the agent must do for a command.
    public enum Effect: Sendable, Equatable {
        /// Nothing to do (already in that state, or a query).
        case none
        /// Resume capture.
        case resumeCapture
        /// Pause capture.
        case pauseCapture
        /// Record `seconds` of noise (nil = default) and switch the denoiser to it.
        case calibrate(seconds: Double?)
        /// Reload the configuration.
        case reload
        /// Send the status document in the reply.
        case reportStatus
    }

    /// The current state.
    public private(set) var state: State

    /// A machine in `state` (`.running` at start, as the agent starts capturing).
    public init(state: State = .running) { self.state = state }

    /// Applies `command`: the effect to carry out, or a refusal (state unchanged).
    public mutating func apply(_ command: AgentCommand) -> Result<Effect, CommandRefusal> {
        func refuse(_ why: String) -> Result<Effect, CommandRefusal> {
            .failure(CommandRefusal(command: command.name, reason: why))
        }
        switch (state, command) {
        case (_, .status):
            return .success(.reportStatus)
        case (.calibrating, _):
            return refuse("calibration in progress")
        case (.running, .start), (.stopped, .stop):
            return .success(.none)
        case (.stopped, .start):
            state = .running
            return .success(.resumeCapture)
        case (.running, .stop):
            state = .stopped
            return .success(.pauseCapture)
        case (.running, .calibrate(let seconds)):
            state = .calibrating(resume: .running)
            return .success(.calibrate(seconds: seconds))
        case (.stopped, .calibrate(let seconds)):
            state = .calibrating(resume: .stopped)
            return .success(.calibrate(seconds: seconds))
        case (_, .reload):
            return .success(.reload)
        }
    }

    /// The calibration finished (or failed): back to the state before it.
    public mutating func calibrationEnded() {
        if case .calibrating(let resume) = state {
            state = resume == .running ? .running : .stopped
        }
    }
}
