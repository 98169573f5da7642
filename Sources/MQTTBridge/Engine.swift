import Dispatch
import Foundation
import Logging

/// The bridge's thread: carries out what the ``ConnectionMachine`` decides. It owns the
/// libmosquitto client and the spool's files, reads the clock, and turns what happens
/// (mailbox items, libmosquitto's events, the outcome of its own I/O) into the machine's
/// events. Created on that thread and never shared, so it needs no locks.
final class Engine {
    struct Context: Sendable {
        var settings: MQTTSettings
        var mailbox: Mailbox
        var shared: Shared
        var commands: AsyncStream<IncomingCommand>.Continuation
        var logger: Logger
        var status: @Sendable (MQTTStats) -> String
        var birth: (@Sendable () -> String?)?
        var markReplayed: (@Sendable (String?, [UInt8]) -> [UInt8])?
    }

    private let context: Context
    private var settings: MQTTSettings { context.settings }
    private var logger: Logger { context.logger }

    private var machine: ConnectionMachine
    private var client: MosquittoClient?
    private var store: any SpoolStore
    private var exiting = false
    /// The birth document last published (nil: none yet).
    private var lastBirth: String?

    init(_ context: Context) {
        self.context = context
        let settings = context.settings
        var spool = SpoolState(limitBytes: settings.spoolLimitBytes)
        var dropped = 0
        var spoolProblem: String?
        store = MemorySpoolStore()
        if let directory = settings.spoolDirectory {
            do {
                let disk = try DiskSpoolStore(directory: directory, memoryLimitBytes: settings.spoolMemoryLimitBytes)
                let restored = SpoolState.restored(limitBytes: settings.spoolLimitBytes, entries: disk.existing())
                for sequence in restored.dropped { disk.delete(sequence: sequence) }
                spool = restored.state
                store = disk
                dropped = restored.dropped.count
                if !spool.isEmpty {
                    context.logger.info("mqtt: resuming \(spool.count) spooled messages from \(directory)")
                }
            } catch {
                // Checked in MQTTBridge.init; if the folder vanished since, keep going in memory.
                spoolProblem = "\(error); spooling in memory"
            }
        }
        machine = ConnectionMachine(settings: settings, spool: spool, droppedAtStart: dropped,
                                    publishesBirth: context.birth != nil,
                                    randomUnit: { Double.random(in: 0...1) }, wallClock: Self.wallClock)
        if let spoolProblem { perform(machine.spoolFolderProblem(spoolProblem)) }
    }

    /// The clock: seconds since boot (monotonic).
    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    /// The time of day: seconds since 1970.
    private static func wallClock() -> Double { Date().timeIntervalSince1970 }

    func run() {
        logger.info("mqtt: \(settings.description)")
        while !exiting {
            let now = Self.now()
            perform(machine.tick(now: now, socketOpen: client?.hasSocket ?? false))
            if exiting { break }
            publishCounters()
            context.mailbox.wait(seconds: machine.nextTick(now: now) - now)
            for item in context.mailbox.drain() where !exiting { handle(item) }
        }
        client = nil
        publishCounters()
        context.shared.markExited()
    }

    // MARK: events

    private func handle(_ item: MailItem) {
        switch item {
        case .outgoing(let message):
            enqueue(message)
        case .event(let event):
            handle(event)
        case .reply(let route, let json, let token):
            perform(machine.replyRequested(route, json: json, token: token))
        case .statusChanged:
            perform(machine.statusChanged())
            // The birth document follows the agent's state (a model or channels known later,
            // a reload): published again when it changed.
            if let birth = context.birth, let document = birth(), document != lastBirth {
                perform(machine.birthChanged(now: Self.now()))
            }
        case .birthChanged:
            perform(machine.birthChanged(now: Self.now()))
        case .shutdown(let seconds):
            perform(machine.shutdownRequested(deadline: Self.now() + seconds))
        }
    }

    private func handle(_ event: ClientEvent) {
        switch event {
        case .connected(let generation):
            perform(machine.connected(generation: generation, now: Self.now()))
        case .refused(let generation, let reason):
            perform(machine.connectFailed(generation: generation, reason: .refused(reason), now: Self.now()))
        case .disconnected(let generation, let cause):
            perform(machine.disconnected(generation: generation, cause: cause, now: Self.now()))
        case .published(let generation, let mid, let reason):
            perform(machine.published(generation: generation, mid: mid, reason: reason, now: Self.now()))
        case .message(let generation, let message):
            perform(machine.messageArrived(generation: generation, message))
        }
    }

    /// Writes the message to the spool (disk, or memory when the disk refuses it), then
    /// tells the machine.
    private func enqueue(_ message: OutgoingMessage) {
        let record = SpoolRecord(topic: message.topic, qos: message.qos ?? settings.qos,
                                 userProperties: message.userProperties, contentType: message.contentType,
                                 payload: message.payload, madeAt: Self.wallClock())
        do {
            let written = try store.write(record, sequence: machine.spool.nextSequence)
            perform(machine.spooled(bytes: written.bytes, diskError: written.diskError, now: Self.now()))
        } catch {
            perform(machine.spoolWriteFailed(topic: message.topic, error: "\(error)", now: Self.now()))
        }
    }

    // MARK: actions

    /// Carries out `actions` in order; the events an action causes are handled at once,
    /// their actions before the rest (depth first, without recursion).
    private func perform(_ actions: [ConnectionMachine.Action]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            let follow = execute(action)
            if !follow.isEmpty { queue = follow[...] + queue }
        }
    }

    /// One action; returns the machine's answer to its outcome, if any.
    private func execute(_ action: ConnectionMachine.Action) -> [ConnectionMachine.Action] {
        switch action {
        case .connect(let generation):
            return connect(generation: generation)
        case .disconnect(let withWill):
            if let client {
                self.client = nil
                client.stop(withWill: withWill)
            }
            return []
        case .scheduleRetry(let delay):
            logger.debug("mqtt: next connection attempt in \(String(format: "%.2f", delay)) s")
            return []
        case .subscribe(let topic):
            if let error = client?.subscribe(topic, qos: 1) {
                return machine.problem("subscribe to \(topic): \(error)")
            }
            return []
        case .publishBirth:
            guard let document = context.birth?() else { return machine.birthSkipped(now: Self.now()) }
            lastBirth = document
            switch publish(topic: settings.metaTopic, json: document, retain: true) {
            case .success(let mid): return machine.birthSent(mid: mid, now: Self.now())
            case .failure(let error): return machine.birthFailed("\(error)", now: Self.now())
            }
        case .publishStatus:
            publishCounters()
            let json = context.status(context.shared.stats)
            if case .failure(let error) = publish(topic: settings.statusTopic, json: json, retain: true) {
                return machine.problem("status publish: \(error)")
            }
            return []
        case .sendReply(let id, let route, let json):
            switch publish(topic: route.topic, json: json, retain: false, correlationData: route.correlationData) {
            case .success(let mid): return machine.replySent(id: id, mid: mid)
            case .failure(let error): return machine.replyFailed(id: id, error: error)
            }
        case .send(let sequence, let replayed):
            return send(sequence: sequence, replayed: replayed)
        case .deleteStored(let sequence):
            store.delete(sequence: sequence)
            return []
        case .deliverCommand(let request, let route, let token):
            context.commands.yield(IncomingCommand(request: request, route: route, token: token))
            return []
        case .log(let level, let line):
            logger.log(level: level, "\(line)")
            return []
        case .exit:
            exiting = true
            return machine.lostAtExit(inMemory: store.heldInMemory)
        }
    }

    private func connect(generation: Int) -> [ConnectionMachine.Action] {
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
            try client.connect(host: settings.host, port: settings.port, keepalive: settings.keepalive)
            return []
        } catch {
            return machine.connectFailed(generation: generation, reason: .setup("\(error)"), now: Self.now())
        }
    }

    /// Publishes spooled message `sequence`: from the backlog (`replayed`) with the user
    /// property `replayed: true` and the payload `markReplayed` gives; with what is left of
    /// `messageExpiry`, or not at all once it expired.
    private func send(sequence: UInt64, replayed: Bool) -> [ConnectionMachine.Action] {
        let record: SpoolRecord
        do {
            record = try store.read(sequence: sequence)
        } catch {
            return machine.sendFailed(sequence: sequence, reason: .unreadable("\(error)"), now: Self.now())
        }
        var expiry: UInt32? = nil
        switch record.expiry(after: settings.messageExpiry, now: Self.wallClock()) {
        case .none: break
        case .remaining(let seconds): expiry = seconds
        case .expired(let age): return machine.sendFailed(sequence: sequence, reason: .expired(age: age), now: Self.now())
        }
        guard let client else {
            return machine.sendFailed(sequence: sequence, reason: .library(.noConnection, topic: record.topic,
                                                                            bytes: record.payload.count), now: Self.now())
        }
        var properties = record.userProperties
        var payload = record.payload
        if replayed {
            properties.append((name: "replayed", value: "true"))
            if let mark = context.markReplayed { payload = mark(record.contentType, payload) }
        }
        let result = payload.withUnsafeBytes { bytes in
            client.publish(topic: record.topic, payload: bytes, qos: Int32(record.qos), retain: false,
                           userProperties: properties, contentType: record.contentType, messageExpiry: expiry)
        }
        switch result {
        case .success(let mid):
            return machine.sent(sequence: sequence, mid: mid, now: Self.now())
        case .failure(let error):
            return machine.sendFailed(sequence: sequence, reason: .library(error, topic: record.topic,
                                                                            bytes: payload.count), now: Self.now())
        }
    }

    /// Publishes a JSON document (status, reply) at QoS 1, outside the spool.
    private func publish(topic: String, json: String, retain: Bool,
                         correlationData: [UInt8]? = nil) -> Result<Int32, MosquittoError> {
        guard let client else { return .failure(.noConnection) }
        return Array(json.utf8).withUnsafeBytes { bytes in
            client.publish(topic: topic, payload: bytes, qos: 1, retain: retain, userProperties: [],
                           contentType: PayloadContentType.json, correlationData: correlationData)
        }
    }

    private func publishCounters() {
        var stats = machine.stats
        stats.inMemoryNow = store.heldInMemory
        context.shared.setEngineStats(stats)
    }
}
