// MQTTBridge: delivery and control over MQTT v5 through libmosquitto.
import Control
import Dispatch
import Foundation
import Logging
import Synchronization

/// The bridge's counters, readable from any thread through ``MQTTBridge/stats``.
public struct MQTTStats: Sendable, Equatable {
    /// Whether a connection to the broker is up (CONNACK accepted).
    public var connected = false
    /// Messages in the spool (waiting and in flight).
    public var spooledMessages = 0
    /// Bytes in the spool.
    public var spooledBytes = 0
    /// Messages waiting in the backlog (they waited in the spool; sent `replayed`).
    public var backlog = 0
    /// Messages sent and not yet acknowledged.
    public var inFlight = 0
    /// Messages acknowledged by the broker.
    public var delivered = 0
    /// Messages sent from the backlog (`replayed: true`), since start.
    public var replayed = 0
    /// Messages dropped because the spool was full (oldest first).
    public var dropped = 0
    /// Messages lost because the spool's disk refused them and the memory reserve was full
    /// (or they were still in memory at shutdown).
    public var lost = 0
    /// Messages kept in memory because the spool's disk refused them, since start.
    public var heldInMemory = 0
    /// Messages in memory now (their disk refused them), waiting or in flight.
    public var inMemoryNow = 0
    /// Messages dropped because they outlived `messageExpiry` in the spool.
    public var expired = 0
    /// Messages `publish` refused: hand-over queue full or invalid topic/QoS.
    public var rejected = 0
    /// Messages the broker or libmosquitto refused for good (PUBACK reason >= 128,
    /// payload too large, unreadable spool file).
    public var refused = 0
    /// Commands the bridge refused itself (malformed, unknown, a response topic it will not
    /// publish to): answered with an error, never handed to the agent.
    public var refusedCommands = 0
    /// Commands answered `"error": "busy"` (the agent had `commandLimit` unanswered).
    public var busyCommands = 0
    /// Commands handed to the agent and not yet answered.
    public var outstandingCommands = 0
    /// Replies waiting for the broker's PUBACK (or for a connection).
    public var pendingReplies = 0
    /// Replies that never reached the broker (more than `replyLimit` waiting, refused by
    /// libmosquitto, or still waiting at shutdown).
    public var lostReplies = 0
    /// Successful connections since start (1 = never reconnected).
    public var connections = 0
    /// Connection attempts since start (each makes a new libmosquitto client).
    public var attempts = 0
    /// Whether another client seems to use the client id (connections cut right after their
    /// CONNACK, again and again, or a DISCONNECT "session taken over").
    public var clientIDConflict = false
    /// The latest problem that still holds, one line; nil once its condition ended.
    public var lastError: String?
    /// When `lastError` happened (seconds since 1970, UTC).
    public var lastErrorAt: Double?
    /// Problems that ended, oldest first (a few), with when they happened and ended.
    public var recentProblems: [BridgeProblem] = []

    /// Every counter at zero, not connected: a bridge before it starts.
    public static let zero = MQTTStats()
}

/// A command received on `{prefix}/cmd`, already parsed; answer it once with
/// ``MQTTBridge/reply(to:_:)``.
public struct IncomingCommand: Sendable {
    /// The command and its id.
    public var request: CommandRequest
    /// Where the reply goes.
    public var route: ReplyRoute
    /// The bridge's token for it (``CommandGate``): its reply frees room for the next command.
    let token: UInt64?

    /// A command to answer on `route`, not counted by any bridge's bound (tests, replies
    /// the caller makes up).
    public init(request: CommandRequest, route: ReplyRoute) {
        self.init(request: request, route: route, token: nil)
    }

    init(request: CommandRequest, route: ReplyRoute, token: UInt64?) {
        self.request = request
        self.route = route
        self.token = token
    }
}

/// The agent's MQTT v5 client: publishes tensors in order without losing them, keeps the
/// retained birth message (`{prefix}/meta`), the retained status and the last will, and
/// receives commands.
///
/// Threads: `publish` only hands the message to a bounded queue and returns. One thread of
/// the bridge owns everything else (the libmosquitto client, the spool, reconnects); the
/// libmosquitto network thread only hands events to it. So a slow disk or a dead broker
/// never blocks the caller, and nothing of the pipeline runs on the network thread.
///
/// Delivery: every message is written to the spool (disk when `spoolDirectory` is set; in
/// memory within `spoolMemoryLimitBytes` when the disk refuses it), sent with at most
/// `maxInFlight` unacknowledged, and deleted only when its PUBACK arrives. While the broker
/// is unreachable, messages accumulate in the spool (oldest dropped and counted beyond
/// `spoolLimitBytes`); a restart resumes a disk spool. What waited goes out afterwards, in
/// order, marked `replayed`, behind the live messages and at most `drainRate` per second.
///
/// Connection: each connection is a new libmosquitto client; when it fails or ends the bridge
/// waits (capped exponential backoff with jitter) and makes a new one, forever. A
/// connection that gets no CONNACK in `connectTimeout`, loses its socket, or leaves a
/// PUBACK unanswered for twice the keepalive is abandoned the same way.
public final class MQTTBridge: Sendable {
    /// The settings it was made with.
    public let settings: MQTTSettings
    /// Commands received, parsed. Malformed or unknown ones never appear here: the bridge
    /// answers them itself with an error reply. Retained commands are ignored. At most
    /// `commandLimit` wait for their reply (more are answered busy: ``CommandGate``), so the
    /// stream's buffer is bounded by the bridge.
    public let commands: AsyncStream<IncomingCommand>

    private let mailbox: Mailbox
    private let shared: Shared
    private let commandSink: AsyncStream<IncomingCommand>.Continuation
    private let logger: Logger
    private let statusDocument: @Sendable (MQTTStats) -> String
    private let birthDocument: (@Sendable () -> String?)?
    private let markReplayed: (@Sendable (_ contentType: String?, _ payload: [UInt8]) -> [UInt8])?

    /// A bridge (not started).
    ///
    /// - `status` makes the retained status JSON from the bridge's counters; it runs on the
    ///   bridge's thread on every (re)connection, after ``publishStatus()`` and every
    ///   `statusInterval`, so it must return quickly (read a snapshot, do not wait for the
    ///   pipeline).
    /// - `birth` makes the birth document (JSON) retained on `{prefix}/meta`: published on
    ///   every connection and acknowledged before the first tensor goes out; again when it
    ///   changes (checked on ``publishStatus()``) or on ``publishBirth()``. It runs on the
    ///   bridge's thread too; nil = nothing to describe yet.
    /// - `markReplayed` gives the payload of a message sent from the backlog, given its
    ///   content type and payload (e.g. a safetensors payload with `replayed` added to its
    ///   metadata); nil, or returning the payload, sends it unchanged. The user property
    ///   `replayed: true` is added by the bridge either way.
    ///
    /// Throws ``MQTTSettingsError`` for wrong settings and ``BridgeError`` when the spool
    /// folder cannot be used.
    public init(settings: MQTTSettings, logger: Logger = Logger(label: "acoustic-edge.mqtt"),
                status: @escaping @Sendable (MQTTStats) -> String = MQTTBridge.defaultStatus,
                birth: (@Sendable () -> String?)? = nil,
                markReplayed: (@Sendable (_ contentType: String?, _ payload: [UInt8]) -> [UInt8])? = nil) throws {
        try settings.validate()
        if let directory = settings.spoolDirectory { _ = try DiskSpoolStore(directory: directory) }
        self.settings = settings
        self.logger = logger
        self.statusDocument = status
        self.birthDocument = birth
        self.markReplayed = markReplayed
        self.mailbox = Mailbox(capacity: settings.queueCapacity)
        self.shared = Shared()
        // Unbounded here because the bridge bounds it: at most `commandLimit` unanswered.
        (commands, commandSink) = AsyncStream.makeStream(of: IncomingCommand.self, bufferingPolicy: .unbounded)
    }

    /// A bridge dropped without ``shutdown(flushWithin:)`` stops its thread at once (a disk
    /// spool keeps what was not delivered).
    deinit {
        mailbox.post(.shutdown(flushWithin: 0))
        commandSink.finish()
    }

    /// The status document when the agent gives none: `{"state":"online", ...counters}`.
    public static func defaultStatus(_ stats: MQTTStats) -> String {
        var object: [String: JSONValue] = ["state": .string("online")]
        for (key, value) in statusFields(stats) { object[key] = value }
        return JSONValue.object(object).text
    }

    /// The delivery side's fields of a status document: spool, delivery and command
    /// counters, the current problem with its time, the problems that ended, and a client-id
    /// conflict when there is one.
    public static func statusFields(_ stats: MQTTStats) -> [String: JSONValue] {
        var f: [String: JSONValue] = [
            "spooled_messages": .number(Double(stats.spooledMessages)),
            "backlog_messages": .number(Double(stats.backlog)),
            "delivered_messages": .number(Double(stats.delivered)),
            "replayed_messages": .number(Double(stats.replayed)),
            "dropped_messages": .number(Double(stats.dropped)),
            "lost_messages": .number(Double(stats.lost)),
            "expired_messages": .number(Double(stats.expired)),
            "refused_messages": .number(Double(stats.refused + stats.rejected)),
            "refused_commands": .number(Double(stats.refusedCommands)),
            "busy_commands": .number(Double(stats.busyCommands)),
        ]
        if stats.lostReplies > 0 { f["lost_replies"] = .number(Double(stats.lostReplies)) }
        if stats.inMemoryNow > 0 { f["spooled_in_memory"] = .number(Double(stats.inMemoryNow)) }
        if stats.clientIDConflict { f["client_id_conflict"] = .bool(true) }
        if let error = stats.lastError {
            f["last_error"] = .string(error)
            if let at = stats.lastErrorAt { f["last_error_at"] = .string(timestamp(at)) }
        }
        if !stats.recentProblems.isEmpty {
            f["recent_errors"] = .array(stats.recentProblems.map { problem in
                var o: [String: JSONValue] = ["error": .string(problem.message), "at": .string(timestamp(problem.at))]
                if let cleared = problem.clearedAt { o["cleared_at"] = .string(timestamp(cleared)) }
                return .object(o)
            })
        }
        return f
    }

    /// `2026-12-05T10:11:12.345Z` for seconds since 1970.
    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// The last-will payload, retained on `{prefix}/status` by the broker when the agent dies.
    public static let offlineStatus = #"{"state":"offline"}"#

    /// Starts the bridge's thread: it resumes the spool and connects. Calling it twice does
    /// nothing.
    public func start() {
        guard shared.claimStart() else { return }
        let context = Engine.Context(settings: settings, mailbox: mailbox, shared: shared,
                                     commands: commandSink, logger: logger, status: statusDocument,
                                     birth: birthDocument, markReplayed: markReplayed)
        let thread = Thread {
            let engine = Engine(context)
            engine.run()
        }
        thread.name = "mqtt-bridge"
        thread.start()
    }

    /// Hands a message over for delivery. Returns false, and counts it as rejected, when the
    /// hand-over queue is full or the topic/QoS is invalid; never blocks.
    @discardableResult
    public func publish(_ message: OutgoingMessage) -> Bool {
        do {
            try MQTTSettings.checkTopicName(message.topic, key: "topic")
            if let qos = message.qos, !(0...2).contains(qos) {
                throw MQTTSettingsError(key: "qos", reason: "\(qos) is not 0, 1 or 2")
            }
        } catch {
            shared.rejectedByCaller("publish refused: \(error)")
            return false
        }
        guard !shared.exited else {
            shared.rejectedByCaller("publish refused: the bridge is shut down")
            return false
        }
        guard mailbox.offer(message) else {
            shared.rejectedByCaller("publish refused: hand-over queue full")
            return false
        }
        shared.acceptedFromCaller()
        return true
    }

    /// Hands a message over, waiting up to `seconds` for room in the hand-over queue (for
    /// batch producers such as `process --publish`, which may outrun the spool's disk writes
    /// and would rather wait than lose a tensor). Returns false when still full after that,
    /// or for an invalid topic/QoS, or after shutdown.
    public func publish(_ message: OutgoingMessage, waitingUpTo seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(max(0, seconds) * 1000))
        while true {
            if shared.exited { break }
            let full = mailbox.isFull
            if !full || ContinuousClock.now >= deadline { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return publish(message)
    }

    /// Sends the reply to a command, once (QoS 1, outside the spool): kept until the broker
    /// acknowledges it, across reconnections; a second reply to the same command is not sent.
    public func reply(to command: IncomingCommand, _ reply: CommandReply) {
        mailbox.post(.reply(command.route, reply.json, token: command.token))
    }

    /// The status changed: make the status document again and publish it (retained); the
    /// birth document too when it changed.
    public func publishStatus() {
        mailbox.post(.statusChanged)
    }

    /// The stream's description changed: make the birth document again and publish it
    /// (retained, before the next tensor).
    public func publishBirth() {
        mailbox.post(.birthChanged)
    }

    /// The current counters.
    public var stats: MQTTStats { shared.stats }

    /// Stops the bridge: waits up to `flushWithin` seconds for the spool to drain, then
    /// disconnects asking the broker to publish the last will (status offline) and ends the
    /// bridge's thread. Messages still spooled stay on disk for the next start (lost with a
    /// memory spool). Returns the final counters.
    @discardableResult
    public func shutdown(flushWithin: Double = 5) async -> MQTTStats {
        if shared.startedAndRunning {
            mailbox.post(.shutdown(flushWithin: flushWithin))
            await shared.waitForExit()
        }
        commandSink.finish()
        return shared.stats
    }
}

// MARK: - hand-over between threads

/// What other threads hand to the bridge's thread.
enum MailItem: Sendable {
    case outgoing(OutgoingMessage)
    case event(ClientEvent)
    case reply(ReplyRoute, String, token: UInt64?)
    case statusChanged
    case birthChanged
    case shutdown(flushWithin: Double)
}

/// The bounded queue into the bridge's thread, and its wake-up.
final class Mailbox: Sendable {
    private struct State {
        var items: [MailItem] = []
        var outgoing = 0
    }
    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Queues an outgoing message unless `capacity` are already queued.
    func offer(_ message: OutgoingMessage) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard state.outgoing < capacity else { return false }
            state.outgoing += 1
            state.items.append(.outgoing(message))
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    /// Whether `capacity` outgoing messages are waiting.
    var isFull: Bool { state.withLock { $0.outgoing >= capacity } }

    /// Queues anything else (events are never refused: they are few and small).
    func post(_ item: MailItem) {
        state.withLock { $0.items.append(item) }
        wakeup.signal()
    }

    /// Everything queued, in order.
    func drain() -> [MailItem] {
        state.withLock { state in
            defer { state.items.removeAll(keepingCapacity: true); state.outgoing = 0 }
            return state.items
        }
    }

    /// Sleeps until something is posted or `seconds` pass.
    func wait(seconds: Double) {
        _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(max(0, seconds) * 1e9)))
    }
}

/// State shared between the bridge's thread and its users: counters and the exit signal.
final class Shared: Sendable {
    private struct State {
        /// The bridge thread's counters (its `rejected` is unused).
        var stats = MQTTStats()
        /// Counted by `publish` on the callers' threads.
        var rejected = 0
        /// The last refusal of `publish`, until a later message is accepted.
        var callerError: (message: String, at: Double)?
        var started = false
        var exited = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// The counters of both sides.
    var stats: MQTTStats {
        state.withLock { s in
            var stats = s.stats
            stats.rejected = s.rejected
            if let caller = s.callerError, caller.at >= (stats.lastErrorAt ?? -.infinity) {
                stats.lastError = caller.message
                stats.lastErrorAt = caller.at
            }
            return stats
        }
    }
    func setEngineStats(_ stats: MQTTStats) { state.withLock { $0.stats = stats } }
    func rejectedByCaller(_ reason: String) {
        let now = Date().timeIntervalSince1970
        state.withLock { $0.rejected += 1; $0.callerError = (reason, now) }
    }
    /// A message was accepted: a refusal of `publish` no longer holds.
    func acceptedFromCaller() {
        state.withLock { if $0.callerError != nil { $0.callerError = nil } }
    }
    func claimStart() -> Bool {
        state.withLock { s in defer { s.started = true }; return !s.started }
    }
    var startedAndRunning: Bool { state.withLock { $0.started && !$0.exited } }
    var exited: Bool { state.withLock { $0.exited } }
    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.exited { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    func markExited() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.exited = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
