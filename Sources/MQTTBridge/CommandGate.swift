import Control

/// How many commands the bridge has handed to the agent without an answer, as a pure value:
/// the bound that keeps a command flood from growing without limit, and the rule that makes
/// `start`/`stop` converge on the last one received.
///
/// - Each command handed over gets a token; the agent's reply returns it. At most `limit`
///   are outstanding (a `calibrate`, answered when its recording ends, counts until then).
/// - When `limit` are outstanding, a new `status`, `calibrate` or `reload` is refused at once
///   with `"error": "busy"`.
/// - A `start` or `stop` is never refused that way: it waits in a single slot (the deferred
///   command) and is handed over as soon as an answer frees room. A newer `start`/`stop`
///   replaces the one in the slot, which is answered busy. So the capture ends in the state of
///   the last `start`/`stop` received, and memory stays bounded (`limit` + 1).
/// - A second answer to the same token is refused (each command is answered once).
struct CommandGate: Sendable {
    /// A command held back, with where its reply goes.
    struct Held: Sendable, Equatable {
        var request: CommandRequest
        var route: ReplyRoute
    }

    /// What to do with an arriving command.
    enum Admission: Equatable {
        /// Hand it to the agent with this token.
        case deliver(token: UInt64)
        /// Refuse it: busy.
        case busy
        /// It waits in the deferred slot; `replaced` (if any) was there and must be answered busy.
        case deferred(replaced: Held?)
    }

    /// Outstanding commands at most.
    let limit: Int
    /// Tokens handed out and not answered.
    private(set) var outstanding: Set<UInt64> = []
    /// The `start`/`stop` waiting for room.
    private(set) var deferred: Held?
    private var nextToken: UInt64 = 1

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// A command arrived (already parsed).
    mutating func admit(_ request: CommandRequest, route: ReplyRoute) -> Admission {
        let isCapture = request.command == .start || request.command == .stop
        if outstanding.count < limit && deferred == nil {
            return .deliver(token: issue())
        }
        guard isCapture else { return .busy }
        let replaced = deferred
        deferred = Held(request: request, route: route)
        return .deferred(replaced: replaced)
    }

    /// The agent answered `token`. Returns whether the token was outstanding (false: a second
    /// answer, or a token that is not ours), and the deferred command to hand over now, with
    /// its token, if room was made.
    mutating func answered(_ token: UInt64) -> (known: Bool, release: (Held, UInt64)?) {
        guard outstanding.remove(token) != nil else { return (false, nil) }
        guard let held = deferred, outstanding.count < limit else { return (true, nil) }
        deferred = nil
        return (true, (held, issue()))
    }

    private mutating func issue() -> UInt64 {
        let token = nextToken
        nextToken += 1
        outstanding.insert(token)
        return token
    }
}
