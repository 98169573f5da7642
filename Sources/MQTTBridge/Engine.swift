import CMosquitto
import Control
import Dispatch
import Foundation
import Logging

/// The bridge's thread: owns the libmosquitto client, the spool and the reconnect
/// schedule. Created on that thread and never shared, so it needs no locks.
final class Engine {
    struct Context: Sendable {
        var settings: MQTTSettings
        var mailbox: Mailbox
        var shared: Shared
        var commands: AsyncStream<IncomingCommand>.Continuation
        var logger: Logger
        var status: @Sendable (MQTTStats) -> String
    }

    /// Where the connection stands.
    private enum Link {
        /// No client; the next attempt is due at `until`.
        case waiting(until: Double)
        /// A client is connecting; abandoned at `deadline`.
        case connecting(deadline: Double)
        /// CONNACK accepted.
        case connected
    }

    private let context: Context
    private var settings: MQTTSettings { context.settings }
    private var logger: Logger { context.logger }

    private var client: MosquittoClient?
    private var generation = 0
    private var link: Link = .waiting(until: 0)
    private var backoff: Backoff
    private var spool: SpoolState
    private var store: any SpoolStore
    private var stats = MQTTStats()
    /// Replies waiting for a connection (small, oldest dropped).
    private var pendingReplies: [(ReplyRoute, String)] = []
    private var statusDue = false
    private var lastStatusAt = -Double.infinity
    private var flushDeadline: Double?
    /// A PUBACK not seen after this long means a dead connection.
    private let ackTimeout: Double
    private var lastLoggedError: String?

    init(_ context: Context) {
        self.context = context
        let settings = context.settings
        backoff = Backoff(initial: settings.reconnectDelay, maximum: settings.reconnectDelayMax)
        ackTimeout = max(Double(settings.keepalive) * 2, 10)
        spool = SpoolState(limitBytes: settings.spoolLimitBytes)
        store = MemorySpoolStore()
        if let directory = settings.spoolDirectory {
            do {
                let disk = try DiskSpoolStore(directory: directory)
                let restored = SpoolState.restored(limitBytes: settings.spoolLimitBytes, entries: disk.existing())
                for sequence in restored.dropped { disk.delete(sequence: sequence) }
                spool = restored.state
                store = disk
                stats.dropped = restored.dropped.count
                if !spool.isEmpty {
                    context.logger.info("mqtt: resuming \(spool.count) spooled messages from \(directory)")
                }
            } catch {
                // Checked in MQTTBridge.init; if the folder vanished since, keep going in memory.
                note("\(error); spooling in memory")
            }
        }
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func run() {
        logger.info("mqtt: \(settings.description)")
        while true {
            let now = Self.now()
            tick(now)
            if let deadline = flushDeadline, spool.isEmpty || now >= deadline { break }
            publishCounters()
            context.mailbox.wait(seconds: min(nextWake(now) - now, 0.5))
            for item in context.mailbox.drain() { handle(item) }
        }
        finish()
    }

    private func nextWake(_ now: Double) -> Double {
        switch link {
        case .waiting(let until): return until
        case .connecting(let deadline): return deadline
        case .connected: return now + 0.5
        }
    }

    private func finish() {
        if let client {
            // Reason 4: the broker publishes the last will, so the status turns offline.
            client.stop(withWill: true)
        }
        client = nil
        stats.connected = false
        if spool.count > 0 {
            logger.warning("mqtt: \(spool.count) messages left in the spool at shutdown")
        }
        publishCounters()
        context.shared.markExited()
    }

    // MARK: events

    private func handle(_ item: MailItem) {
        switch item {
        case .outgoing(let message):
            enqueue(message)
            pump()
        case .event(let event):
            handle(event)
        case .reply(let route, let json):
            if let client, case .connected = link {
                sendReply(client, route, json)
            } else {
                pendingReplies.append((route, json))
                if pendingReplies.count > 32 { pendingReplies.removeFirst() }
            }
        case .statusChanged:
            statusDue = true
        case .shutdown(let seconds):
            flushDeadline = Self.now() + seconds
        }
    }

    private func handle(_ event: ClientEvent) {
        switch event {
        case .connected(let gen, let rc):
            guard gen == generation, case .connecting = link else { return }
            if rc == 0 {
                connected()
            } else {
                var reason = "broker \(settings.host):\(settings.port) refused the connection: \(mqttReasonText(rc)) (reason code \(rc))"
                if rc == MQTTv5.badUsernameOrPassword || rc == MQTTv5.notAuthorized {
                    reason += "; check mqtt.username and the password source"
                }
                fail(reason)
            }
        case .disconnected(let gen, let rc):
            guard gen == generation else { return }
            switch link {
            case .connected:
                fail("connection to \(settings.host):\(settings.port) lost: \(mosquittoErrorText(rc))")
            case .connecting:
                fail("cannot connect to \(settings.host):\(settings.port): \(mosquittoErrorText(rc))\(tlsHint(rc))")
            case .waiting:
                break
            }
        case .published(let gen, let mid, let rc):
            guard gen == generation, let entry = spool.acknowledge(mid: mid) else { return }
            store.delete(sequence: entry.sequence)
            if rc >= 128 {
                stats.refused += 1
                note("broker refused message \(entry.sequence): \(mqttReasonText(rc)) (reason code \(rc))")
            } else {
                stats.delivered += 1
            }
            pump()
        case .message(let gen, let message):
            guard gen == generation else { return }
            command(message)
        }
    }

    private func command(_ message: IncomingMessage) {
        guard message.topic == settings.commandTopic else { return }
        if message.retain {
            // A retained command would run again at every reconnect.
            logger.warning("mqtt: ignoring a retained message on \(settings.commandTopic)")
            return
        }
        let route = ReplyRoute(topic: message.responseTopic ?? settings.commandResponseTopic,
                               correlationData: message.correlationData)
        switch CommandParser.parse(message.payload) {
        case .success(let request):
            context.commands.yield(IncomingCommand(request: request, route: route))
        case .failure(let refusal):
            logger.notice("mqtt: command refused: \(refusal.reason)")
            handle(.reply(route, CommandReply(refusal: refusal).json))
        }
    }

    // MARK: connection

    private func tick(_ now: Double) {
        switch link {
        case .waiting(let until):
            // Also while flushing at shutdown: a reconnect within the window still delivers.
            if now >= until { attempt(now) }
        case .connecting(let deadline):
            if now >= deadline {
                fail("no CONNACK from \(settings.host):\(settings.port) within \(settings.connectTimeout) s")
            }
        case .connected:
            guard let client else { return }
            if !client.hasSocket {
                fail("the connection's socket closed (network thread gone)")
            } else if let sent = spool.oldestSentAt, now - sent > ackTimeout {
                fail("no PUBACK for \(Int(ackTimeout)) s; abandoning the connection")
            } else if statusDue || (settings.statusInterval > 0 && now - lastStatusAt >= settings.statusInterval) {
                sendStatus(client)
            }
        }
    }

    private func attempt(_ now: Double) {
        generation += 1
        stats.attempts += 1
        let mailbox = context.mailbox
        do {
            let client = try MosquittoClient(clientID: settings.clientID, generation: generation) { event in
                mailbox.post(.event(event))
            }
            self.client = client
            if let username = settings.username {
                try client.setCredentials(username: username, password: try settings.resolvePassword())
            }
            if let tls = settings.tls {
                for (key, path) in [("ca_file", tls.caFile), ("cert_file", tls.certificateFile),
                                    ("key_file", tls.keyFile)] {
                    if let path, !FileManager.default.isReadableFile(atPath: path) {
                        throw MQTTSettingsError(key: "tls.\(key)", reason: "cannot read '\(path)'")
                    }
                }
                try client.setTLS(tls)
            }
            try client.setWill(topic: settings.statusTopic, payload: Array(MQTTBridge.offlineStatus.utf8),
                               qos: 1, retain: true, contentType: PayloadContentType.json)
            link = .connecting(deadline: now + settings.connectTimeout)
            try client.connect(host: settings.host, port: settings.port, keepalive: settings.keepalive)
        } catch {
            fail("\(error)")
        }
    }

    private func connected() {
        guard let client else { return }
        link = .connected
        backoff.reset()
        stats.connected = true
        stats.connections += 1
        logger.info("mqtt: connected to \(settings.host):\(settings.port) as \(settings.clientID)\(spool.count > 0 ? ", \(spool.count) spooled messages to send" : "")")
        lastLoggedError = nil
        let rc = client.subscribe(settings.commandTopic, qos: 1)
        if rc != 0 { note("subscribe to \(settings.commandTopic): \(mosquittoErrorText(rc))") }
        sendStatus(client)
        for (route, json) in pendingReplies { sendReply(client, route, json) }
        pendingReplies.removeAll()
        pump()
    }

    /// Ends the current client (if any) and schedules the next attempt.
    private func fail(_ reason: String) {
        note(reason)
        spool.connectionLost()
        if let client {
            self.client = nil
            client.stop()
        }
        stats.connected = false
        let delay = backoff.next() * Double.random(in: 0.8...1.0)
        link = .waiting(until: Self.now() + delay)
    }

    /// Records a problem: kept as `lastError`, logged (repeats of the same line at debug).
    private func note(_ reason: String) {
        stats.lastError = reason
        let line = reason.hasPrefix("mqtt") ? reason : "mqtt: " + reason
        if reason != lastLoggedError {
            logger.warning("\(line)")
            lastLoggedError = reason
        } else {
            logger.debug("\(line)")
        }
    }

    // MARK: messages

    private func enqueue(_ message: OutgoingMessage) {
        let record = SpoolRecord(topic: message.topic, qos: message.qos ?? settings.qos,
                                 userProperties: message.userProperties, contentType: message.contentType,
                                 payload: message.payload)
        let sequence = spool.nextSequence
        let bytes: Int
        do {
            bytes = try store.write(record, sequence: sequence)
        } catch {
            stats.dropped += 1
            note("\(error); message to \(message.topic) dropped")
            return
        }
        let result = spool.append(bytes: bytes)
        for dropped in result.dropped { store.delete(sequence: dropped) }
        if !result.dropped.isEmpty {
            stats.dropped += result.dropped.count
            note("spool full (\(settings.spoolLimitBytes) bytes): dropped \(result.dropped.count) oldest message(s)")
        }
    }

    /// Sends waiting messages while connected and below the in-flight limit.
    private func pump() {
        guard let client, case .connected = link else { return }
        while let entry = spool.nextToSend(maxInFlight: settings.maxInFlight) {
            let record: SpoolRecord
            do {
                record = try store.read(sequence: entry.sequence)
            } catch {
                _ = spool.discardWaiting(sequence: entry.sequence)
                store.delete(sequence: entry.sequence)
                stats.refused += 1
                note("\(error); message dropped")
                continue
            }
            let (rc, mid) = record.payload.withUnsafeBytes { bytes in
                client.publish(topic: record.topic, payload: bytes, qos: Int32(record.qos), retain: false,
                               userProperties: record.userProperties, contentType: record.contentType)
            }
            if rc == 0 {
                spool.markSent(sequence: entry.sequence, mid: mid, at: Self.now())
                continue
            }
            switch rc {
            case Int32(MOSQ_ERR_NO_CONN.rawValue), Int32(MOSQ_ERR_CONN_LOST.rawValue),
                 Int32(MOSQ_ERR_NOMEM.rawValue), Int32(MOSQ_ERR_ERRNO.rawValue):
                // The connection is going; the disconnect (or the watchdog) follows.
                return
            default:
                _ = spool.discardWaiting(sequence: entry.sequence)
                store.delete(sequence: entry.sequence)
                stats.refused += 1
                note("cannot publish to \(record.topic) (\(record.payload.count) bytes): \(mosquittoErrorText(rc)); message dropped")
            }
        }
    }

    private func sendStatus(_ client: MosquittoClient) {
        publishCounters()
        let json = context.status(context.shared.stats)
        let (rc, _) = Array(json.utf8).withUnsafeBytes { bytes in
            client.publish(topic: settings.statusTopic, payload: bytes, qos: 1, retain: true,
                           userProperties: [], contentType: PayloadContentType.json)
        }
        if rc != 0 { note("status publish: \(mosquittoErrorText(rc))") }
        statusDue = false
        lastStatusAt = Self.now()
    }

    private func sendReply(_ client: MosquittoClient, _ route: ReplyRoute, _ json: String) {
        let (rc, _) = Array(json.utf8).withUnsafeBytes { bytes in
            client.publish(topic: route.topic, payload: bytes, qos: 1, retain: false, userProperties: [],
                           contentType: PayloadContentType.json, correlationData: route.correlationData)
        }
        if rc != 0 { note("reply to \(route.topic): \(mosquittoErrorText(rc))") }
    }

    private func publishCounters() {
        stats.spooledMessages = spool.count
        stats.spooledBytes = spool.totalBytes
        stats.inFlight = spool.inFlightCount
        context.shared.setEngineStats(stats)
    }
}
