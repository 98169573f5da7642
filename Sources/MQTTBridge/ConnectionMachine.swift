import Control
import Logging

/// The bridge's connection supervisor as a pure state machine: no I/O, no clock, no
/// randomness of its own (the time comes with the events, the jitter from `randomUnit`).
///
/// The engine feeds it events (a tick of the clock, what libmosquitto reported, what the
/// engine's own I/O did) and carries out the actions it returns, in order; an action's
/// outcome (a message published, a connection that could not even be started) comes back as
/// another event. It owns:
/// - the link: `waiting` for the next attempt, `connecting` (until the CONNACK timeout),
///   `connected`, `closed` after shutdown; flushing is a shutdown deadline over any of the
///   first three (a reconnect within the window still delivers);
/// - the reconnect backoff with jitter, the CONNACK timeout, the PUBACK watchdog
///   (`ackTimeout`) and the socket check;
/// - the spool's bookkeeping (``SpoolState``) and which message goes out next;
/// - the status timing, replies waiting for a connection, the command filter;
/// - the counters (``MQTTStats``) and the log lines with their repeat suppression.
///
/// Later additions have their place here: a birth message goes in ``connected(generation:now:)``
/// before the first `.send`; a session taken over arrives as
/// ``disconnected(generation:cause:now:)`` with `.broker(reason)` where
/// `reason.isSessionTakenOver` from brokers that announce it (mosquitto 2.0.11 only closes
/// the socket: docs/mqtt.md).
struct ConnectionMachine {
    /// Where the connection stands.
    enum Link: Equatable {
        /// No client; the next attempt is due at `until`.
        case waiting(until: Double)
        /// The current client is connecting; abandoned at `deadline` without a CONNACK.
        case connecting(deadline: Double)
        /// CONNACK accepted.
        case connected
        /// Shut down: nothing happens any more.
        case closed
    }

    /// What the engine does for the machine.
    enum Action: Equatable {
        /// Make client number `generation` (credentials, TLS, last will) and start its
        /// connection; a failure to do so comes back as ``connectFailed(generation:reason:now:)``
        /// with `.setup`.
        case connect(generation: Int)
        /// End the current client, if any; `withWill` asks the broker to publish the last
        /// will anyway (at shutdown, so the status turns offline).
        case disconnect(withWill: Bool)
        /// The next attempt is due in `after` seconds (``nextTick(now:)`` already includes it;
        /// the engine only logs it).
        case scheduleRetry(after: Double)
        /// Subscribe to `topic` (QoS 1); an immediate failure comes back as ``problem(_:)``.
        case subscribe(topic: String)
        /// Make the status document and publish it retained; a failure comes back as ``problem(_:)``.
        case publishStatus
        /// Publish a command reply (QoS 1, not spooled); a failure comes back as ``problem(_:)``.
        case sendReply(ReplyRoute, json: String)
        /// Read spooled message `sequence` and publish it; report ``sent(sequence:mid:now:)``
        /// or ``sendFailed(sequence:reason:)``.
        case send(sequence: UInt64)
        /// Delete the stored copy of spooled message `sequence` (delivered or dropped).
        case deleteStored(sequence: UInt64)
        /// Hand a parsed command to the agent.
        case deliverCommand(CommandRequest, ReplyRoute)
        /// Write a log line.
        case log(Logger.Level, String)
        /// Shutdown is complete: publish the final counters and end the bridge's thread.
        case exit
    }

    /// Why a connection could not be made.
    enum ConnectFailure: Equatable {
        /// The client could not be made or started (settings, files, DNS, refused socket).
        case setup(String)
        /// The broker refused the CONNACK.
        case refused(MQTTReason)
    }

    /// Why a spooled message could not be published.
    enum SendFailure: Equatable {
        /// Its stored copy cannot be read.
        case unreadable(String)
        /// libmosquitto refused the publish of a message to `topic` of `bytes` bytes.
        case library(MosquittoError, topic: String, bytes: Int)
    }

    /// How often a connected link is checked (socket, PUBACK watchdog, status interval), and
    /// the longest sleep of the engine.
    static let pollInterval = 0.5
    /// Replies kept while disconnected; beyond that the oldest is dropped.
    static let pendingReplyLimit = 32

    let settings: MQTTSettings
    /// A PUBACK not seen after this long means a dead connection: max(2 x keepalive, 10 s).
    let ackTimeout: Double
    /// Where the connection stands.
    private(set) var link: Link = .waiting(until: -.infinity)
    /// The number of the current (or last) client; events of older clients are ignored.
    private(set) var generation = 0
    /// The spool's bookkeeping.
    private(set) var spool: SpoolState
    /// Replies waiting for a connection.
    private(set) var pendingReplies: [(route: ReplyRoute, json: String)] = []
    /// The shutdown deadline, once shutdown was asked for.
    private(set) var flushDeadline: Double?
    private var backoff: Backoff
    /// A value in 0...1 for each retry delay's jitter.
    private let randomUnit: () -> Double
    private var counters = MQTTStats()
    private var statusDue = false
    private var lastStatusAt = -Double.infinity
    /// The spooled message handed to the engine with `.send`, until it reports back.
    private var sending: UInt64?
    private var lastLoggedError: String?

    /// A machine for `settings` over `spool` (restored from disk, or empty), with
    /// `droppedAtStart` messages already dropped by the restore. `randomUnit` returns a
    /// value in 0...1 for each retry's jitter (`{ Double.random(in: 0...1) }`).
    init(settings: MQTTSettings, spool: SpoolState, droppedAtStart: Int = 0,
         randomUnit: @escaping () -> Double) {
        self.settings = settings
        self.spool = spool
        self.randomUnit = randomUnit
        ackTimeout = max(Double(settings.keepalive) * 2, 10)
        backoff = Backoff(initial: settings.reconnectDelay, maximum: settings.reconnectDelayMax)
        counters.dropped = droppedAtStart
    }

    /// The counters, spool figures included.
    var stats: MQTTStats {
        var stats = counters
        stats.spooledMessages = spool.count
        stats.spooledBytes = spool.totalBytes
        stats.inFlight = spool.inFlightCount
        return stats
    }

    /// When the engine should tick next, at the latest.
    func nextTick(now: Double) -> Double {
        var next = now + Self.pollInterval
        switch link {
        case .waiting(let until): next = min(next, until)
        case .connecting(let deadline): next = min(next, deadline)
        case .connected: break
        case .closed: return now
        }
        if let flushDeadline { next = min(next, flushDeadline) }
        return max(now, next)
    }

    // MARK: time

    /// The clock reads `now`; `socketOpen` says whether the current client still has its
    /// socket (a dead network thread may leave it closed).
    mutating func tick(now: Double, socketOpen: Bool) -> [Action] {
        if case .closed = link { return [] }
        if let deadline = flushDeadline, spool.isEmpty || now >= deadline { return close() }
        switch link {
        case .waiting(let until):
            // Also while flushing at shutdown: a reconnect within the window still delivers.
            guard now >= until else { return [] }
            generation += 1
            counters.attempts += 1
            link = .connecting(deadline: now + settings.connectTimeout)
            return [.connect(generation: generation)]
        case .connecting(let deadline):
            guard now >= deadline else { return [] }
            return fail("no CONNACK from \(settings.host):\(settings.port) within \(settings.connectTimeout) s", now: now)
        case .connected:
            if !socketOpen {
                return fail("the connection's socket closed (network thread gone)", now: now)
            }
            if let sent = spool.oldestSentAt, now - sent > ackTimeout {
                return fail("no PUBACK for \(Int(ackTimeout)) s; abandoning the connection", now: now)
            }
            if statusDue || (settings.statusInterval > 0 && now - lastStatusAt >= settings.statusInterval) {
                return [status(now: now)]
            }
            return []
        case .closed:
            return []
        }
    }

    // MARK: the connection

    /// Client `generation`'s CONNACK accepted the connection.
    mutating func connected(generation: Int, now: Double) -> [Action] {
        guard generation == self.generation, case .connecting = link else { return [] }
        link = .connected
        backoff.reset()
        counters.connected = true
        counters.connections += 1
        let backlog = spool.count > 0 ? ", \(spool.count) spooled messages to send" : ""
        var actions: [Action] = [
            .log(.info, "mqtt: connected to \(settings.host):\(settings.port) as \(settings.clientID)\(backlog)"),
        ]
        lastLoggedError = nil
        actions.append(.subscribe(topic: settings.commandTopic))
        actions.append(status(now: now))
        actions += pendingReplies.map { .sendReply($0.route, json: $0.json) }
        pendingReplies.removeAll()
        return actions + pump()
    }

    /// Client `generation` could not connect.
    mutating func connectFailed(generation: Int, reason: ConnectFailure, now: Double) -> [Action] {
        guard generation == self.generation, case .connecting = link else { return [] }
        switch reason {
        case .setup(let text):
            return fail(text, now: now)
        case .refused(let reason):
            var text = "broker \(settings.host):\(settings.port) refused the connection: \(reason)"
            if reason.isCredentialProblem { text += "; check mqtt.username and the password source" }
            return fail(text, now: now)
        }
    }

    /// Client `generation`'s connection ended (or never came up).
    mutating func disconnected(generation: Int, cause: DisconnectCause, now: Double) -> [Action] {
        guard generation == self.generation else { return [] }
        switch link {
        case .connected:
            return fail("connection to \(settings.host):\(settings.port) lost: \(cause)", now: now)
        case .connecting:
            var hint = ""
            if case .library(let error) = cause { hint = error.hint }
            return fail("cannot connect to \(settings.host):\(settings.port): \(cause)\(hint)", now: now)
        case .waiting, .closed:
            return []
        }
    }

    /// Ends the current client and schedules the next attempt.
    private mutating func fail(_ reason: String, now: Double) -> [Action] {
        let logged = note(reason)
        spool.connectionLost()
        sending = nil
        counters.connected = false
        let delay = backoff.next() * (0.8 + 0.2 * min(max(randomUnit(), 0), 1))
        link = .waiting(until: now + delay)
        return [logged, .disconnect(withWill: false), .scheduleRetry(after: delay)]
    }

    // MARK: spooled messages

    /// The engine stored a message as ``SpoolState/nextSequence``, taking `bytes`.
    mutating func spooled(bytes: Int) -> [Action] {
        let result = spool.append(bytes: bytes)
        var actions = result.dropped.map { Action.deleteStored(sequence: $0) }
        if !result.dropped.isEmpty {
            counters.dropped += result.dropped.count
            actions.append(note("spool full (\(settings.spoolLimitBytes) bytes): dropped \(result.dropped.count) oldest message(s)"))
        }
        return actions + pump()
    }

    /// The engine could not store a message to `topic`: it is lost.
    mutating func spoolWriteFailed(topic: String, error: String) -> [Action] {
        counters.dropped += 1
        return [note("\(error); message to \(topic) dropped")]
    }

    /// Spooled message `sequence` was published as message id `mid`.
    mutating func sent(sequence: UInt64, mid: Int32, now: Double) -> [Action] {
        guard sending == sequence else { return [] }
        sending = nil
        spool.markSent(sequence: sequence, mid: mid, at: now)
        return pump()
    }

    /// Spooled message `sequence` could not be published.
    mutating func sendFailed(sequence: UInt64, reason: SendFailure) -> [Action] {
        guard sending == sequence else { return [] }
        sending = nil
        let text: String
        switch reason {
        case .unreadable(let error):
            text = "\(error); message dropped"
        case .library(let error, let topic, let bytes):
            switch error.kind {
            case .noConnection, .connectionLost, .outOfMemory, .system:
                // The connection is going; the disconnect (or the watchdog) follows, and the
                // message waits for the next one.
                return []
            case .tls, .payloadTooLarge, .protocolError, .keepalive, .other:
                text = "cannot publish to \(topic) (\(bytes) bytes): \(error); message dropped"
            }
        }
        _ = spool.discardWaiting(sequence: sequence)
        counters.refused += 1
        return [.deleteStored(sequence: sequence), note(text)] + pump()
    }

    /// Client `generation` got the PUBACK (PUBCOMP, or wrote a QoS 0 message) of `mid`.
    mutating func published(generation: Int, mid: Int32, reason: MQTTReason) -> [Action] {
        guard generation == self.generation, let entry = spool.acknowledge(mid: mid) else { return [] }
        var actions: [Action] = [.deleteStored(sequence: entry.sequence)]
        if reason.isFailure {
            counters.refused += 1
            actions.append(note("broker refused message \(entry.sequence): \(reason)"))
        } else {
            counters.delivered += 1
        }
        return actions + pump()
    }

    /// The next spooled message, when connected, below the in-flight limit and not already
    /// handed to the engine.
    private mutating func pump() -> [Action] {
        guard case .connected = link, sending == nil,
              let entry = spool.nextToSend(maxInFlight: settings.maxInFlight) else { return [] }
        sending = entry.sequence
        return [.send(sequence: entry.sequence)]
    }

    // MARK: status, replies, commands

    /// The agent's status changed: publish it at the next tick (when connected).
    mutating func statusChanged() -> [Action] {
        statusDue = true
        return []
    }

    private mutating func status(now: Double) -> Action {
        statusDue = false
        lastStatusAt = now
        return .publishStatus
    }

    /// A reply to send: now when connected, else at the next connection (the oldest of more
    /// than ``pendingReplyLimit`` dropped).
    mutating func replyRequested(_ route: ReplyRoute, json: String) -> [Action] {
        if case .connected = link { return [.sendReply(route, json: json)] }
        pendingReplies.append((route, json))
        if pendingReplies.count > Self.pendingReplyLimit { pendingReplies.removeFirst() }
        return []
    }

    /// A message arrived on client `generation`'s subscription.
    mutating func messageArrived(generation: Int, _ message: IncomingMessage) -> [Action] {
        guard generation == self.generation, message.topic == settings.commandTopic else { return [] }
        if message.retain {
            // A retained command would run again at every reconnect.
            return [.log(.warning, "mqtt: ignoring a retained message on \(settings.commandTopic)")]
        }
        let route = ReplyRoute(topic: message.responseTopic ?? settings.commandResponseTopic,
                               correlationData: message.correlationData)
        switch CommandParser.parse(message.payload) {
        case .success(let request):
            return [.deliverCommand(request, route)]
        case .failure(let refusal):
            return [.log(.notice, "mqtt: command refused: \(refusal.reason)")]
                + replyRequested(route, json: CommandReply(refusal: refusal).json)
        }
    }

    // MARK: problems and shutdown

    /// The engine saw something fail that the machine does not track (a status or reply
    /// publish, the subscription, the spool folder): note it.
    mutating func problem(_ reason: String) -> [Action] {
        [note(reason)]
    }

    /// Shut down by `deadline`: keep delivering until the spool is empty or the deadline
    /// passes, then disconnect with the will. A later request can only bring it closer.
    mutating func shutdownRequested(deadline: Double) -> [Action] {
        flushDeadline = min(flushDeadline ?? deadline, deadline)
        return []
    }

    private mutating func close() -> [Action] {
        var actions: [Action] = []
        switch link {
        case .connecting, .connected:
            // MQTT v5 reason 4: the broker publishes the last will, so the status turns offline.
            actions.append(.disconnect(withWill: true))
        case .waiting, .closed:
            break
        }
        link = .closed
        sending = nil
        counters.connected = false
        if spool.count > 0 {
            actions.append(.log(.warning, "mqtt: \(spool.count) messages left in the spool at shutdown"))
        }
        actions.append(.exit)
        return actions
    }

    /// Records a problem: kept as `lastError`, logged as a warning (repeats of the same line
    /// at debug).
    private mutating func note(_ reason: String) -> Action {
        counters.lastError = reason
        let line = reason.hasPrefix("mqtt") ? reason : "mqtt: " + reason
        if reason != lastLoggedError {
            lastLoggedError = reason
            return .log(.warning, line)
        }
        return .log(.debug, line)
    }
}
