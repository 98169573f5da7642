import Control
import Logging

/// The bridge's connection supervisor as a pure state machine: no I/O, no clock, no
/// randomness of its own (the time comes with the events, the wall clock and the jitter from
/// injected functions).
///
/// The engine feeds it events (a tick of the clock, what libmosquitto reported, what the
/// engine's own I/O did) and carries out the actions it returns, in order; an action's
/// outcome (a message published, a connection that could not even be started) comes back as
/// another event. It owns:
/// - the link: `waiting` for the next attempt, `connecting` (until the CONNACK timeout),
///   `connected`, `closed` after shutdown; flushing is a shutdown deadline over any of the
///   first three (a reconnect within the window still delivers);
/// - the reconnect backoff with jitter, the CONNACK timeout, the PUBACK watchdog
///   (`ackTimeout`), the socket check, and the client-id takeover watch (connections cut soon
///   after their CONNACK, again and again);
/// - the birth message (`{prefix}/meta`): published on every connection, and acknowledged,
///   before the first tensor;
/// - the spool's bookkeeping (``SpoolState``), which message goes out next (live first, the
///   backlog paced by `drainRate`) and whether it goes out `replayed`;
/// - the status timing, the command filter and bound (``CommandGate``), the replies until
///   their PUBACK;
/// - the counters (``MQTTStats``), the problems until they end (``ProblemLedger``) and the
///   log lines with their repeat suppression.
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
        /// Make the birth document and publish it retained (QoS 1) on `{prefix}/meta`; report
        /// ``birthSent(mid:now:)``, ``birthSkipped()`` (no document) or ``birthFailed(_:)``.
        case publishBirth
        /// Make the status document and publish it retained; a failure comes back as ``problem(_:)``.
        case publishStatus
        /// Publish reply `id` (QoS 1, not spooled); report ``replySent(id:mid:)`` or
        /// ``replyFailed(id:error:)``.
        case sendReply(id: UInt64, ReplyRoute, json: String)
        /// Read spooled message `sequence` and publish it (with `replayed: true` when it comes
        /// from the backlog); report ``sent(sequence:mid:now:)`` or ``sendFailed(sequence:reason:now:)``.
        case send(sequence: UInt64, replayed: Bool)
        /// Delete the stored copy of spooled message `sequence` (delivered or dropped).
        case deleteStored(sequence: UInt64)
        /// Hand a parsed command to the agent; its answer comes back with `token`.
        case deliverCommand(CommandRequest, ReplyRoute, token: UInt64)
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
        /// It is older than `mqtt.message_expiry` (its age in seconds): a broker would drop it.
        case expired(age: Double)
    }

    /// How often a connected link is checked (socket, PUBACK watchdog, status interval), and
    /// the longest sleep of the engine.
    static let pollInterval = 0.5

    let settings: MQTTSettings
    /// A PUBACK not seen after this long means a dead connection: max(2 x keepalive, 10 s).
    let ackTimeout: Double
    /// Whether every connection publishes a birth message before the first tensor.
    let publishesBirth: Bool
    /// Where the connection stands.
    private(set) var link: Link = .waiting(until: -.infinity)
    /// The number of the current (or last) client; events of older clients are ignored.
    private(set) var generation = 0
    /// The spool's bookkeeping.
    private(set) var spool: SpoolState
    /// Commands handed to the agent and not yet answered.
    private(set) var gate: CommandGate
    /// Replies not yet acknowledged by the broker, by id (ids grow in request order).
    private(set) var replies: [UInt64: (route: ReplyRoute, json: String)] = [:]
    /// Message ids of the replies published on the current connection.
    private var replyMids: [Int32: UInt64] = [:]
    private var replySentIDs: Set<UInt64> = []
    private var nextReplyID: UInt64 = 1
    /// The shutdown deadline, once shutdown was asked for.
    private(set) var flushDeadline: Double?
    /// The problems that hold, and the recent ones that ended.
    private(set) var problems = ProblemLedger()
    private var backoff: Backoff
    /// A value in 0...1 for each retry delay's jitter.
    private let randomUnit: () -> Double
    /// Seconds since 1970 (UTC), for the time of a problem.
    private let wallClock: () -> Double
    private var counters = MQTTStats()
    private var statusDue = false
    private var lastStatusAt = -Double.infinity
    /// The spooled message handed to the engine with `.send`, until it reports back.
    private var sending: (sequence: UInt64, replayed: Bool)?
    /// The last line logged at warning per kind of problem (repeats go to debug until the
    /// condition ends).
    private var lastLogged: [ProblemLedger.Kind: String] = [:]
    private var expiryLogged = false

    /// The birth message of the current connection.
    private enum Birth: Equatable {
        /// Nothing pending (published and acknowledged, or none to publish).
        case settled
        /// `.publishBirth` handed to the engine, which has not reported yet.
        case publishing
        /// Published as `mid` at `sentAt`, PUBACK not yet seen.
        case unacknowledged(mid: Int32, sentAt: Double)
    }
    private var birth = Birth.settled

    /// The takeover watch: when the current connection got its CONNACK, whether it has lasted
    /// `takeoverWindow`, and how many connections in a row were cut before that.
    private var connectedAt: Double?
    private var stable = false
    private var cutShort = 0

    /// When the backlog may send its next message (with `drainRate`).
    private var nextBacklogAt = -Double.infinity

    /// A machine for `settings` over `spool` (restored from disk, or empty), with
    /// `droppedAtStart` messages already dropped by the restore. `randomUnit` returns a
    /// value in 0...1 for each retry's jitter (`{ Double.random(in: 0...1) }`), `wallClock`
    /// the time of day in seconds since 1970; `publishesBirth`: the agent gives a birth
    /// document.
    init(settings: MQTTSettings, spool: SpoolState, droppedAtStart: Int = 0, publishesBirth: Bool = false,
         randomUnit: @escaping () -> Double, wallClock: @escaping () -> Double) {
        self.settings = settings
        self.spool = spool
        self.publishesBirth = publishesBirth
        self.randomUnit = randomUnit
        self.wallClock = wallClock
        ackTimeout = max(Double(settings.keepalive) * 2, 10)
        backoff = Backoff(initial: settings.reconnectDelay, maximum: settings.reconnectDelayMax)
        gate = CommandGate(limit: settings.commandLimit)
        counters.dropped = droppedAtStart
    }

    /// The counters, spool figures and problems included.
    var stats: MQTTStats {
        var stats = counters
        stats.spooledMessages = spool.count
        stats.spooledBytes = spool.totalBytes
        stats.inFlight = spool.inFlightCount
        stats.backlog = spool.backlogCount
        stats.clientIDConflict = problems.holds(.clientID)
        stats.pendingReplies = replies.count
        stats.outstandingCommands = gate.outstanding.count
        if let latest = problems.latest {
            stats.lastError = latest.message
            stats.lastErrorAt = latest.at
        }
        stats.recentProblems = problems.history
        return stats
    }

    /// When the engine should tick next, at the latest.
    func nextTick(now: Double) -> Double {
        var next = now + Self.pollInterval
        switch link {
        case .waiting(let until): next = min(next, until)
        case .connecting(let deadline): next = min(next, deadline)
        case .connected:
            if settings.drainRate > 0, spool.backlogCount > 0, sending == nil {
                next = min(next, max(now, nextBacklogAt))
            }
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
            return fail(.connection, "no CONNACK from \(settings.host):\(settings.port) within \(settings.connectTimeout) s", now: now)
        case .connected:
            if !socketOpen {
                return fail(.connection, "the connection's socket closed (network thread gone)", now: now)
            }
            let oldest = [spool.oldestSentAt, birthSentAt].compactMap { $0 }.min()
            if let sent = oldest, now - sent > ackTimeout {
                return fail(.connection, "no PUBACK for \(Int(ackTimeout)) s; abandoning the connection", now: now)
            }
            var actions = settle(now: now)
            if statusDue || (settings.statusInterval > 0 && now - lastStatusAt >= settings.statusInterval) {
                actions.append(status(now: now))
            }
            return actions + pump(now: now)
        case .closed:
            return []
        }
    }

    // MARK: the connection

    /// Client `generation`'s CONNACK accepted the connection.
    mutating func connected(generation: Int, now: Double) -> [Action] {
        guard generation == self.generation, case .connecting = link else { return [] }
        link = .connected
        // The backoff starts again only once the connection proves stable (takeoverWindow):
        // a connection cut right after its CONNACK, again and again, is not retried in a loop.
        connectedAt = now
        stable = false
        counters.connected = true
        counters.connections += 1
        let backlog = spool.count > 0 ? ", \(spool.count) spooled messages to send" : ""
        var actions: [Action] = [
            .log(.info, "mqtt: connected to \(settings.host):\(settings.port) as \(settings.clientID)\(backlog)"),
        ]
        problems.clear(.connection, at: wallClock())
        // While another client holds the id, each cut is said once, not at every reconnect.
        if !problems.holds(.clientID) { lastLogged[.connection] = nil }
        actions.append(.subscribe(topic: settings.commandTopic))
        if publishesBirth {
            birth = .publishing
            actions.append(.publishBirth)
        }
        actions.append(status(now: now))
        actions += sendPendingReplies()
        return actions + pump(now: now)
    }

    /// Client `generation` could not connect.
    mutating func connectFailed(generation: Int, reason: ConnectFailure, now: Double) -> [Action] {
        guard generation == self.generation, case .connecting = link else { return [] }
        switch reason {
        case .setup(let text):
            return fail(.connection, text, now: now)
        case .refused(let reason):
            var text = "broker \(settings.host):\(settings.port) refused the connection: \(reason)"
            if reason.isCredentialProblem { text += "; check mqtt.username and the password source" }
            return fail(.connection, text, now: now)
        }
    }

    /// Client `generation`'s connection ended (or never came up).
    mutating func disconnected(generation: Int, cause: DisconnectCause, now: Double) -> [Action] {
        guard generation == self.generation else { return [] }
        switch link {
        case .connected:
            var takeover: String? = nil
            if case .broker(let reason) = cause, reason.isSessionTakenOver {
                takeover = "the broker says the session was taken over (\(reason))"
            } else if case .library(let error) = cause, error.kind == .connectionLost, !stable {
                // mosquitto 2.0.11 announces no takeover: it closes the socket. A connection
                // closed by the broker within takeoverWindow of its CONNACK, several times in
                // a row, is taken for one.
                cutShort += 1
                if cutShort >= settings.takeoverThreshold {
                    takeover = "the broker closed \(cutShort) connections in a row within \(Self.seconds(settings.takeoverWindow)) s of their CONNACK"
                }
            } else {
                cutShort = 0
            }
            var actions = fail(.connection, "connection to \(settings.host):\(settings.port) lost: \(cause)", now: now)
            if let takeover {
                let line = "another client is using client id \(settings.clientID): \(takeover); retrying every \(Self.seconds(settings.reconnectDelayMax)) s"
                actions.insert(note(.clientID, line, key: "takeover"), at: 1)
                // Retry at the cap, not in a loop with the other client.
                let delay = settings.reconnectDelayMax * (0.8 + 0.2 * min(max(randomUnit(), 0), 1))
                link = .waiting(until: now + delay)
                actions[actions.count - 1] = .scheduleRetry(after: delay)
            }
            return actions
        case .connecting:
            var hint = ""
            if case .library(let error) = cause { hint = error.hint }
            return fail(.connection, "cannot connect to \(settings.host):\(settings.port): \(cause)\(hint)", now: now)
        case .waiting, .closed:
            return []
        }
    }

    /// A connection that lasted `takeoverWindow` is stable: the backoff starts again from
    /// `reconnectDelay`, and a client-id conflict is over.
    private mutating func settle(now: Double) -> [Action] {
        guard !stable, let since = connectedAt, now - since >= settings.takeoverWindow else { return [] }
        stable = true
        cutShort = 0
        backoff.reset()
        guard problems.holds(.clientID) else { return [] }
        problems.clear(.clientID, at: wallClock())
        lastLogged[.clientID] = nil
        return [.log(.notice, "mqtt: the connection as \(settings.clientID) is stable again")]
    }

    /// Ends the current client and schedules the next attempt.
    private mutating func fail(_ kind: ProblemLedger.Kind, _ reason: String, now: Double) -> [Action] {
        let logged = note(kind, reason)
        spool.connectionLost()
        sending = nil
        birth = .settled
        replyMids.removeAll()
        replySentIDs.removeAll()
        connectedAt = nil
        counters.connected = false
        let delay = backoff.next() * (0.8 + 0.2 * min(max(randomUnit(), 0), 1))
        link = .waiting(until: now + delay)
        return [logged, .disconnect(withWill: false), .scheduleRetry(after: delay)]
    }

    // MARK: the birth message

    /// The agent's birth document changed (or ``MQTTBridge/publishBirth()``): publish it
    /// again now when connected (tensors wait for its PUBACK), else at the next connection.
    mutating func birthChanged(now: Double) -> [Action] {
        guard publishesBirth, case .connected = link else { return [] }
        birth = .publishing
        return [.publishBirth]
    }

    /// The birth message went out as `mid`; tensors wait for its PUBACK.
    mutating func birthSent(mid: Int32, now: Double) -> [Action] {
        guard birth == .publishing else { return [] }
        birth = .unacknowledged(mid: mid, sentAt: now)
        return []
    }

    /// The agent has no birth document yet: tensors need not wait.
    mutating func birthSkipped(now: Double) -> [Action] {
        guard birth == .publishing else { return [] }
        birth = .settled
        return pump(now: now)
    }

    /// The birth message could not be published (the connection is going, as a rule).
    mutating func birthFailed(_ error: String, now: Double) -> [Action] {
        guard birth == .publishing else { return [] }
        birth = .settled
        return [note(.connection, "meta publish on \(settings.metaTopic): \(error)")] + pump(now: now)
    }

    private var birthSentAt: Double? {
        if case .unacknowledged(_, let sentAt) = birth { return sentAt }
        return nil
    }

    // MARK: spooled messages

    /// The engine stored a message as ``SpoolState/nextSequence``, taking `bytes`; on disk,
    /// or in memory because the disk refused it with `diskError`.
    mutating func spooled(bytes: Int, diskError: String? = nil, now: Double) -> [Action] {
        let live = link == .connected
        let result = spool.append(bytes: bytes, live: live)
        var actions = result.dropped.map { Action.deleteStored(sequence: $0) }
        if let diskError {
            counters.heldInMemory += 1
            actions.append(note(.spoolDisk, "\(diskError); keeping messages in memory (up to \(settings.spoolMemoryLimitBytes) bytes) until the disk takes them again",
                                key: "memory"))
        } else if problems.holds(.spoolDisk) {
            problems.clear(.spoolDisk, at: wallClock())
            lastLogged[.spoolDisk] = nil
            actions.append(.log(.notice, "mqtt: the spool's disk takes messages again"))
        }
        if !result.dropped.isEmpty {
            counters.dropped += result.dropped.count
            actions.append(note(.spoolFull, "spool full (\(settings.spoolLimitBytes) bytes): dropped \(result.dropped.count) oldest message(s)",
                                key: "full"))
        } else if problems.holds(.spoolFull) {
            problems.clear(.spoolFull, at: wallClock())
            lastLogged[.spoolFull] = nil
        }
        return actions + pump(now: now)
    }

    /// The engine could store a message to `topic` neither on disk nor in memory: it is lost.
    mutating func spoolWriteFailed(topic: String, error: String, now: Double) -> [Action] {
        counters.lost += 1
        return [note(.spoolDisk, "\(error); the memory reserve (\(settings.spoolMemoryLimitBytes) bytes) is full too: message to \(topic) lost",
                     key: "lost")]
    }

    /// Spooled message `sequence` was published as message id `mid`.
    mutating func sent(sequence: UInt64, mid: Int32, now: Double) -> [Action] {
        guard let current = sending, current.sequence == sequence else { return [] }
        sending = nil
        spool.markSent(sequence: sequence, mid: mid, at: now)
        if current.replayed {
            counters.replayed += 1
            if settings.drainRate > 0 { nextBacklogAt = max(now, nextBacklogAt) + 1 / settings.drainRate }
        }
        return pump(now: now)
    }

    /// Spooled message `sequence` could not be published.
    mutating func sendFailed(sequence: UInt64, reason: SendFailure, now: Double) -> [Action] {
        guard let current = sending, current.sequence == sequence else { return [] }
        sending = nil
        switch reason {
        case .unreadable(let error):
            _ = spool.discardWaiting(sequence: sequence)
            counters.refused += 1
            return [.deleteStored(sequence: sequence), note(.delivery, "\(error); message dropped")] + pump(now: now)
        case .library(let error, let topic, let bytes):
            switch error.kind {
            case .noConnection, .connectionLost, .outOfMemory, .system:
                // The connection is going; the disconnect (or the watchdog) follows, and the
                // message waits for the next one.
                return []
            case .tls, .payloadTooLarge, .protocolError, .keepalive, .other:
                _ = spool.discardWaiting(sequence: sequence)
                counters.refused += 1
                return [.deleteStored(sequence: sequence),
                        note(.delivery, "cannot publish to \(topic) (\(bytes) bytes): \(error); message dropped")] + pump(now: now)
            }
        case .expired(let age):
            _ = spool.discardWaiting(sequence: sequence)
            counters.expired += 1
            let line = "mqtt: spooled message \(sequence) expired (\(Int(age)) s old, mqtt.message_expiry \(settings.messageExpiry) s): dropped; further expiries are counted in expired_messages"
            let level: Logger.Level = expiryLogged ? .debug : .notice
            expiryLogged = true
            return [.deleteStored(sequence: sequence), .log(level, line)] + pump(now: now)
        }
    }

    /// Client `generation` got the PUBACK (PUBCOMP, or wrote a QoS 0 message) of `mid`.
    mutating func published(generation: Int, mid: Int32, reason: MQTTReason, now: Double) -> [Action] {
        guard generation == self.generation else { return [] }
        if case .unacknowledged(let birthMid, _) = birth, birthMid == mid {
            birth = .settled
            var actions: [Action] = []
            if reason.isFailure { actions.append(note(.delivery, "broker refused the meta message on \(settings.metaTopic): \(reason)")) }
            return actions + pump(now: now)
        }
        if let id = replyMids.removeValue(forKey: mid) {
            replies[id] = nil
            replySentIDs.remove(id)
            return []
        }
        guard let entry = spool.acknowledge(mid: mid) else { return [] }
        var actions: [Action] = [.deleteStored(sequence: entry.sequence)]
        if reason.isFailure {
            counters.refused += 1
            actions.append(note(.delivery, "broker refused message \(entry.sequence): \(reason)"))
        } else {
            counters.delivered += 1
            if problems.holds(.delivery) {
                problems.clear(.delivery, at: wallClock())
                lastLogged[.delivery] = nil
            }
            expiryLogged = false
        }
        return actions + pump(now: now)
    }

    /// The next spooled message, when connected, the birth acknowledged, below the in-flight
    /// limit and not already handed to the engine: live first, then the backlog when its pace
    /// allows.
    private mutating func pump(now: Double) -> [Action] {
        guard case .connected = link, sending == nil, birth == .settled else { return [] }
        let backlogAllowed = settings.drainRate <= 0 || now >= nextBacklogAt
        guard let entry = spool.nextToSend(maxInFlight: settings.maxInFlight, backlogAllowed: backlogAllowed) else { return [] }
        sending = (entry.sequence, entry.replayed)
        return [.send(sequence: entry.sequence, replayed: entry.replayed)]
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

    /// A reply to send (`token`: the command's, when it answers one the agent was handed):
    /// now when connected, else at the next connection. Kept until its PUBACK; beyond
    /// `replyLimit` the oldest is dropped and counted.
    mutating func replyRequested(_ route: ReplyRoute, json: String, token: UInt64? = nil) -> [Action] {
        var actions: [Action] = []
        if let token {
            let (known, release) = gate.answered(token)
            guard known else {
                return [.log(.warning, "mqtt: a second reply to the same command was not sent: \(json)")]
            }
            actions += enqueueReply(route, json: json)
            if let (held, token) = release {
                actions.append(.deliverCommand(held.request, held.route, token: token))
            }
            return actions
        }
        return enqueueReply(route, json: json)
    }

    private mutating func enqueueReply(_ route: ReplyRoute, json: String) -> [Action] {
        let id = nextReplyID
        nextReplyID += 1
        replies[id] = (route, json)
        var actions: [Action] = []
        if replies.count > settings.replyLimit, let oldest = replies.keys.min() {
            replies[oldest] = nil
            replySentIDs.remove(oldest)
            counters.lostReplies += 1
            actions.append(.log(.warning, "mqtt: more than \(settings.replyLimit) replies wait for the broker: the oldest was dropped (lost_replies)"))
        }
        if case .connected = link {
            replySentIDs.insert(id)
            actions.append(.sendReply(id: id, route, json: json))
        }
        return actions
    }

    /// Every reply not yet sent on this connection, oldest first.
    private mutating func sendPendingReplies() -> [Action] {
        replies.keys.sorted().filter { !replySentIDs.contains($0) }.compactMap { id in
            guard let reply = replies[id] else { return nil }
            replySentIDs.insert(id)
            return .sendReply(id: id, reply.route, json: reply.json)
        }
    }

    /// Reply `id` was published as `mid`; it leaves when the PUBACK comes.
    mutating func replySent(id: UInt64, mid: Int32) -> [Action] {
        guard replies[id] != nil, replySentIDs.contains(id) else { return [] }
        replyMids[mid] = id
        return []
    }

    /// Reply `id` could not be published: it waits for the next connection when the link is
    /// going, else it is dropped for good and counted.
    mutating func replyFailed(id: UInt64, error: MosquittoError) -> [Action] {
        guard let reply = replies[id] else { return [] }
        replySentIDs.remove(id)
        switch error.kind {
        case .noConnection, .connectionLost, .outOfMemory, .system:
            return []
        case .tls, .payloadTooLarge, .protocolError, .keepalive, .other:
            replies[id] = nil
            counters.lostReplies += 1
            return [.log(.warning, "mqtt: reply to \(reply.route.topic) not sent: \(error)")]
        }
    }

    /// A message arrived on client `generation`'s subscription. A command of a client already
    /// replaced counts too: libmosquitto acknowledged it to the broker, which will not send it
    /// again (clean start), so it must be answered.
    mutating func messageArrived(generation: Int, _ message: IncomingMessage) -> [Action] {
        guard generation <= self.generation, message.topic == settings.commandTopic else { return [] }
        if message.retain {
            // A retained command would run again at every reconnect.
            return [.log(.warning, "mqtt: ignoring a retained message on \(settings.commandTopic)")]
        }
        let fallback = ReplyRoute(topic: settings.commandResponseTopic, correlationData: message.correlationData)
        let parsed = CommandParser.parse(message.payload)
        // MQTT v5 response topic: validated before anything is published to it.
        if let topic = message.responseTopic, let problem = settings.responseTopicProblem(topic) {
            counters.refusedCommands += 1
            var id: String? = nil, name: String? = nil
            if case .success(let request) = parsed { id = request.id; name = request.command.name }
            let reason = "response topic refused: \(problem)"
            return [.log(.notice, "mqtt: command refused: \(reason)")]
                + replyRequested(fallback, json: CommandReply(id: id, command: name, ok: false, error: reason).json)
        }
        let route = ReplyRoute(topic: message.responseTopic ?? settings.commandResponseTopic,
                               correlationData: message.correlationData)
        switch parsed {
        case .success(let request):
            switch gate.admit(request, route: route) {
            case .deliver(let token):
                return [.deliverCommand(request, route, token: token)]
            case .busy:
                counters.busyCommands += 1
                return replyRequested(route, json: Self.busyReply(request))
            case .deferred(let replaced):
                guard let replaced else { return [] }
                counters.busyCommands += 1
                return replyRequested(replaced.route, json: Self.busyReply(replaced.request))
            }
        case .failure(let refusal):
            counters.refusedCommands += 1
            return [.log(.notice, "mqtt: command refused: \(refusal.reason)")]
                + replyRequested(route, json: CommandReply(refusal: refusal).json)
        }
    }

    /// `{"id":...,"command":...,"ok":false,"error":"busy"}`.
    static func busyReply(_ request: CommandRequest) -> String {
        CommandReply(id: request.id, command: request.command.name, ok: false, error: "busy").json
    }

    // MARK: problems and shutdown

    /// The engine saw something fail that the machine does not track (a status publish, the
    /// subscription): a problem of the connection, noted until the next CONNACK.
    mutating func problem(_ reason: String) -> [Action] {
        [note(.connection, reason)]
    }

    /// The spool folder could not be used at start: the spool is in memory for this run.
    mutating func spoolFolderProblem(_ reason: String) -> [Action] {
        [note(.spoolFolder, reason)]
    }

    /// `count` messages held in memory (their disk refused them) are still undelivered as the
    /// bridge exits: they are lost.
    mutating func lostAtExit(inMemory count: Int) -> [Action] {
        guard count > 0 else { return [] }
        counters.lost += count
        return [.log(.warning, "mqtt: \(count) messages kept in memory (their disk refused them) were not delivered before shutdown: lost")]
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
        let unsent = replies.count + (gate.deferred == nil ? 0 : 1)
        if unsent > 0 {
            counters.lostReplies += unsent
            actions.append(.log(.warning, "mqtt: \(unsent) command replies not acknowledged by the broker at shutdown (lost_replies)"))
        }
        if !gate.outstanding.isEmpty {
            actions.append(.log(.warning, "mqtt: \(gate.outstanding.count) commands still unanswered by the agent at shutdown"))
        }
        actions.append(.exit)
        return actions
    }

    /// Records a problem of `kind`: kept (with its time) until its condition ends, logged as a
    /// warning, repeats of the same `key` (the line itself by default) at debug until then.
    private mutating func note(_ kind: ProblemLedger.Kind, _ reason: String, key: String? = nil) -> Action {
        problems.note(kind, reason, at: wallClock())
        let line = reason.hasPrefix("mqtt") ? reason : "mqtt: " + reason
        let key = key ?? reason
        if lastLogged[kind] != key {
            lastLogged[kind] = key
            return .log(.warning, line)
        }
        return .log(.debug, line)
    }

    /// `30` for 30.0, `0.5` for 0.5.
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
