/// A problem the bridge reported: what, when, and when it ended.
public struct BridgeProblem: Sendable, Equatable {
    /// One line, e.g. `connection to 10.0.0.5:1883 lost: The connection was lost.`
    public var message: String
    /// When it was last seen (seconds since 1970, UTC).
    public var at: Double
    /// When the condition ended (seconds since 1970), nil while it holds.
    public var clearedAt: Double?
}

/// The bridge's problems by condition, as a pure value: each kind of problem holds until the
/// event that ends it (a CONNACK ends a connection problem, a disk write that works again ends
/// a spool-disk problem...), then moves to a short history. `lastError` is therefore current:
/// it never says `Connection refused` once the broker is back.
struct ProblemLedger: Sendable, Equatable {
    /// The conditions a problem belongs to, each with the event that ends it.
    enum Kind: Sendable, Hashable, CaseIterable {
        /// Connecting or staying connected (refused, lost, timeouts, a publish of the status
        /// or a reply that failed as the link went): ends at the next CONNACK.
        case connection
        /// Another client uses the client id: ends when a connection stays up.
        case clientID
        /// The spool's disk refused a write: ends when a write succeeds.
        case spoolDisk
        /// The spool was full and dropped messages: ends when a message fits without a drop.
        case spoolFull
        /// A message refused for good (by the broker, libmosquitto, or an unreadable spool
        /// file): ends at the next message delivered.
        case delivery
        /// The spool folder could not be used at start: holds for the run.
        case spoolFolder
    }

    /// Problems kept after they ended.
    static let historyLimit = 8

    private(set) var current: [Kind: BridgeProblem] = [:]
    /// The order problems were noted in (the latest wins ties of the wall clock).
    private var noted: [Kind: Int] = [:]
    private var notes = 0
    /// Ended problems, oldest first, at most ``historyLimit``.
    private(set) var history: [BridgeProblem] = []

    /// Records `message` (at `time`, wall clock) as the current problem of `kind`.
    mutating func note(_ kind: Kind, _ message: String, at time: Double) {
        current[kind] = BridgeProblem(message: message, at: time, clearedAt: nil)
        notes += 1
        noted[kind] = notes
    }

    /// The condition of `kind` ended at `time`: its problem, if any, moves to the history.
    mutating func clear(_ kind: Kind, at time: Double) {
        guard var problem = current.removeValue(forKey: kind) else { return }
        problem.clearedAt = time
        history.append(problem)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }

    /// The most recent problem that still holds.
    var latest: BridgeProblem? {
        current.max { (noted[$0.key] ?? 0) < (noted[$1.key] ?? 0) }?.value
    }

    /// Whether a problem of `kind` holds.
    func holds(_ kind: Kind) -> Bool { current[kind] != nil }
}
