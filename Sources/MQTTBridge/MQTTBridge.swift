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
    /// Messages sent and not yet acknowledged.
    public var inFlight = 0
    /// Messages acknowledged by the broker.
    public var delivered = 0
    /// Messages dropped because the spool was full (oldest first).
    public var dropped = 0
    /// Messages `publish` refused: hand-over queue full or invalid topic/QoS.
    public var rejected = 0
    /// Messages the broker or libmosquitto refused for good (PUBACK reason >= 128,
    /// payload too large, unreadable spool file).
    public var refused = 0
    /// Successful connections since start (1 = never reconnected).
    public var connections = 0
    /// Connection attempts since start (each makes a new libmosquitto client).
    public var attempts = 0
    /// The last problem, one line (kept after recovery, for the status document).
    public var lastError: String?

    /// Every counter at zero, not connected: a bridge before it starts.
    public static let zero = MQTTStats()
}

/// A command received on `{prefix}/cmd`, already parsed; answer it with
/// ``MQTTBridge/reply(to:_:)``.
public struct IncomingCommand: Sendable {
    /// The command and its id.
    public var request: CommandRequest
    /// Where the reply goes.
    public var route: ReplyRoute
}

/// The agent's MQTT v5 client: publishes tensors in order without losing them, keeps the
/// retained status and the last will, and receives commands.
///
/// Threads: `publish` only hands the message to a bounded queue and returns. One thread of
/// the bridge owns everything else (the libmosquitto client, the spool, reconnects); the
/// libmosquitto network thread only hands events to it. So a slow disk or a dead broker
/// never blocks the caller, and nothing of the pipeline runs on the network thread.
///
/// Delivery: every message is written to the spool (disk when `spoolDirectory` is set),
/// sent in order with at most `maxInFlight` unacknowledged, and deleted only when its
/// PUBACK arrives. While the broker is unreachable, messages accumulate in the spool (oldest
/// dropped and counted beyond `spoolLimitBytes`); a restart resumes a disk spool.
///
/// Connection: each connection is a new libmosquitto client; when it fails or ends the bridge
/// waits (capped exponential backoff with jitter) and makes a new one, forever. A
/// connection that gets no CONNACK in `connectTimeout`, loses its socket, or leaves a
/// PUBACK unanswered for twice the keepalive is abandoned the same way.
public final class MQTTBridge: Sendable {
    /// The settings it was made with.
    public let settings: MQTTSettings
    /// Commands received, parsed. Malformed or unknown ones never appear here: the bridge
    /// answers them itself with an error reply. Retained commands are ignored.
    public let commands: AsyncStream<IncomingCommand>

    private let mailbox: Mailbox
    private let shared: Shared
    private let commandSink: AsyncStream<IncomingCommand>.Continuation
    private let logger: Logger
    private let statusDocument: @Sendable (MQTTStats) -> String

    /// A bridge (not started). `status` makes the retained status JSON from the bridge's
    /// counters; it runs on the bridge's thread on every (re)connection, after
    /// ``publishStatus()`` and every `statusInterval`, so it must return quickly (read a
    /// snapshot, do not wait for the pipeline). Throws ``MQTTSettingsError`` for
    /// wrong settings and ``BridgeError`` when the spool folder cannot be used.
    public init(settings: MQTTSettings, logger: Logger = Logger(label: "acoustic-edge.mqtt"),
                status: @escaping @Sendable (MQTTStats) -> String = MQTTBridge.defaultStatus) throws {
        try settings.validate()
        if let directory = settings.spoolDirectory { _ = try DiskSpoolStore(directory: directory) }
        self.settings = settings
        self.logger = logger
        self.statusDocument = status
        self.mailbox = Mailbox(capacity: settings.queueCapacity)
        self.shared = Shared()
        (commands, commandSink) = AsyncStream.makeStream(of: IncomingCommand.self,
                                                         bufferingPolicy: .bufferingNewest(64))
    }

    /// A bridge dropped without ``shutdown(flushWithin:)`` stops its thread at once (a disk
    /// spool keeps what was not delivered).
    deinit {
        mailbox.post(.shutdown(flushWithin: 0))
        commandSink.finish()
    }

    /// The status document when the agent gives none: `{"state":"online", ...counters}`.
    public static func defaultStatus(_ stats: MQTTStats) -> String {
        var object: [String: JSONValue] = [
            "state": .string("online"),
            "spooled_messages": .number(Double(stats.spooledMessages)),
            "dropped_messages": .number(Double(stats.dropped)),
        ]
        if let error = stats.lastError { object["last_error"] = .string(error) }
        return JSONValue.object(object).text
    }

    /// The last-will payload, retained on `{prefix}/status` by the broker when the agent dies.
    public static let offlineStatus = #"{"state":"offline"}"#

    /// Starts the bridge's thread: it resumes the spool and connects. Calling it twice does
    /// nothing.
    public func start() {
        guard shared.claimStart() else { return }
        let context = Engine.Context(settings: settings, mailbox: mailbox, shared: shared,
                                     commands: commandSink, logger: logger, status: statusDocument)
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

    /// Sends the reply to a command (QoS 1, not spooled: a reply that cannot be sent within
    /// the next connection is dropped).
    public func reply(to command: IncomingCommand, _ reply: CommandReply) {
        mailbox.post(.reply(command.route, reply.json))
    }

    /// The status changed: make the status document again and publish it (retained).
    public func publishStatus() {
        mailbox.post(.statusChanged)
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
    case reply(ReplyRoute, String)
    case statusChanged
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
        var callerError: String?
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
            if stats.lastError == nil { stats.lastError = s.callerError }
            return stats
        }
    }
    func setEngineStats(_ stats: MQTTStats) { state.withLock { $0.stats = stats } }
    func rejectedByCaller(_ reason: String) {
        state.withLock { $0.rejected += 1; $0.callerError = reason }
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
