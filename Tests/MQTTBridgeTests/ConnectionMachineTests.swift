import Control
import Logging
@testable import MQTTBridge
import XCTest

/// Values for the retry jitter, in order (0.5 once they run out).
final class JitterSource {
    private var values: [Double]
    init(_ values: [Double] = []) { self.values = values }
    func next() -> Double { values.isEmpty ? 0.5 : values.removeFirst() }
}

/// Every transition of the connection supervisor, without a broker, I/O or sleeps: the clock
/// is the `now` passed in, the jitter a fixed list. The real-broker side is in BrokerTests,
/// ResilienceTests and SupervisionTests.
final class ConnectionMachineTests: XCTestCase {
    typealias Action = ConnectionMachine.Action

    private static let connectionLost = MosquittoError(kind: .connectionLost, text: "The connection was lost.")
    private static let noConnection = MosquittoError(kind: .noConnection, text: "The client is not currently connected.")

    private func settings(_ change: (inout MQTTSettings) -> Void = { _ in }) -> MQTTSettings {
        var settings = MQTTSettings()
        settings.host = "broker"
        settings.port = 1883
        settings.clientID = "agent-7"
        settings.keepalive = 30              // ackTimeout 60 s
        settings.reconnectDelay = 1
        settings.reconnectDelayMax = 8
        settings.connectTimeout = 15
        settings.statusInterval = 60
        settings.maxInFlight = 2
        settings.spoolLimitBytes = 1024
        change(&settings)
        return settings
    }

    private func makeMachine(_ change: (inout MQTTSettings) -> Void = { _ in }, jitter: [Double] = [],
                         spool: SpoolState? = nil) -> ConnectionMachine {
        let settings = settings(change)
        let source = JitterSource(jitter)
        return ConnectionMachine(settings: settings, spool: spool ?? SpoolState(limitBytes: settings.spoolLimitBytes),
                                 randomUnit: source.next)
    }

    /// A machine whose first client (generation 1) got its CONNACK at `now`.
    private func makeConnected(_ change: (inout MQTTSettings) -> Void = { _ in }, jitter: [Double] = [],
                           at now: Double = 0) -> ConnectionMachine {
        var machine = makeMachine(change, jitter: jitter)
        XCTAssertEqual(machine.tick(now: now, socketOpen: false), [.connect(generation: 1)])
        _ = machine.connected(generation: 1, now: now)
        XCTAssertEqual(machine.link, .connected)
        return machine
    }

    private func warnings(_ actions: [Action]) -> [String] {
        actions.compactMap { if case .log(.warning, let line) = $0 { return line } else { return nil } }
    }

    private func command(_ json: String, topic: String = "plant/cmd", retain: Bool = false,
                         responseTopic: String? = nil, correlation: [UInt8]? = nil) -> IncomingMessage {
        IncomingMessage(topic: topic, payload: Array(json.utf8), qos: 1, retain: retain, userProperties: [],
                        contentType: nil, responseTopic: responseTopic, correlationData: correlation)
    }

    // MARK: connecting

    func testFirstTickMakesClientOneAndWaitsForItsConnack() {
        var machine = makeMachine()
        XCTAssertEqual(machine.link, .waiting(until: -.infinity), "the first attempt is due at once")
        XCTAssertEqual(machine.tick(now: 100, socketOpen: false), [.connect(generation: 1)])
        XCTAssertEqual(machine.link, .connecting(deadline: 115))
        XCTAssertEqual(machine.generation, 1)
        XCTAssertEqual(machine.stats.attempts, 1)
        XCTAssertFalse(machine.stats.connected)
        XCTAssertEqual(machine.tick(now: 114.9, socketOpen: false), [], "still within connectTimeout")
        XCTAssertEqual(machine.stats.attempts, 1)
    }

    func testConnackSubscribesPublishesTheStatusAndStartsTheBacklog() {
        var machine = makeMachine()
        for _ in 0..<3 { XCTAssertEqual(machine.spooled(bytes: 100), [], "nothing goes out while disconnected") }
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 1, now: 2), [
            .log(.info, "mqtt: connected to broker:1883 as agent-7, 3 spooled messages to send"),
            .subscribe(topic: "plant/cmd"),
            .publishStatus,
            .send(sequence: 0),
        ])
        XCTAssertEqual(machine.link, .connected)
        XCTAssertTrue(machine.stats.connected)
        XCTAssertEqual(machine.stats.connections, 1)
        XCTAssertEqual(machine.sent(sequence: 0, mid: 10, now: 2), [.send(sequence: 1)], "one at a time")
        XCTAssertEqual(machine.sent(sequence: 1, mid: 11, now: 2), [], "maxInFlight 2 reached")
        XCTAssertEqual(machine.stats.inFlight, 2)
        XCTAssertEqual(machine.stats.spooledMessages, 3)
    }

    func testConnectedWithAnEmptySpoolSaysSoShorter() {
        var machine = makeMachine()
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 1, now: 0).first,
                       .log(.info, "mqtt: connected to broker:1883 as agent-7"))
    }

    func testRefusedConnackNamesTheReasonAndTheCredentialsAndRetriesWithJitter() {
        var machine = makeMachine(jitter: [0])
        _ = machine.tick(now: 10, socketOpen: false)
        let actions = machine.connectFailed(generation: 1, reason: .refused(MQTTReason(code: 135, text: "Not authorized")), now: 10)
        let reason = "broker broker:1883 refused the connection: Not authorized (reason code 135); check mqtt.username and the password source"
        XCTAssertEqual(actions, [.log(.warning, "mqtt: " + reason), .disconnect(withWill: false), .scheduleRetry(after: 0.8)])
        XCTAssertEqual(machine.link, .waiting(until: 10.8))
        XCTAssertEqual(machine.stats.lastError, reason)
        XCTAssertEqual(machine.stats.connections, 0)
        XCTAssertEqual(machine.tick(now: 10.7, socketOpen: false), [], "not yet due")
        XCTAssertEqual(machine.tick(now: 10.8, socketOpen: false), [.connect(generation: 2)])
        // A refusal that no password fixes gets no hint.
        let other = machine.connectFailed(generation: 2, reason: .refused(MQTTReason(code: 0x9C, text: "Use another server")), now: 11)
        XCTAssertEqual(warnings(other), ["mqtt: broker broker:1883 refused the connection: Use another server (reason code 156)"])
    }

    func testBackoffDoublesToTheCapWithJitterAndStartsAgainAfterAConnection() {
        var machine = makeMachine(jitter: [0, 1, 0.5, 0.25, 1, 0, 1])
        var delays: [Double] = []
        var now = 0.0
        for attempt in 1...6 {
            XCTAssertEqual(machine.tick(now: now, socketOpen: false), [.connect(generation: attempt)])
            let actions = machine.connectFailed(generation: machine.generation, reason: .setup("mqtt: connect to broker:1883: refused"), now: now)
            guard case .scheduleRetry(let delay)? = actions.last else { return XCTFail("\(actions)") }
            delays.append(delay)
            XCTAssertEqual(machine.link, .waiting(until: now + delay))
            now += delay
        }
        // 1, 2, 4, 8, 8, 8 s times 0.8 + 0.2 x jitter.
        let expected = [0.8, 2.0, 3.6, 6.8, 8.0, 6.4]
        for (delay, want) in zip(delays, expected) { XCTAssertEqual(delay, want, accuracy: 1e-12) }
        XCTAssertEqual(machine.stats.attempts, 6)
        _ = machine.tick(now: now, socketOpen: false)
        _ = machine.connected(generation: 7, now: now)
        let lost = machine.disconnected(generation: 7, cause: .library(Self.connectionLost), now: now)
        XCTAssertEqual(lost.last, .scheduleRetry(after: 1.0), "back to reconnectDelay (jitter 1)")
    }

    func testNoConnackWithinTheTimeoutAbandonsTheClient() {
        var machine = makeMachine({ $0.connectTimeout = 0.5 }, jitter: [1])
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.tick(now: 0.49, socketOpen: false), [])
        XCTAssertEqual(machine.tick(now: 0.5, socketOpen: false), [
            .log(.warning, "mqtt: no CONNACK from broker:1883 within 0.5 s"),
            .disconnect(withWill: false), .scheduleRetry(after: 1),
        ])
        XCTAssertEqual(machine.link, .waiting(until: 1.5))
    }

    func testSetupFailureIsReportedAsItIsAndRetried() {
        var machine = makeMachine(jitter: [1])
        _ = machine.tick(now: 0, socketOpen: false)
        let actions = machine.connectFailed(generation: 1, reason: .setup("mqtt.tls.ca_file: cannot read '/etc/ca.pem'"), now: 3)
        XCTAssertEqual(actions, [.log(.warning, "mqtt.tls.ca_file: cannot read '/etc/ca.pem'"),
                                 .disconnect(withWill: false), .scheduleRetry(after: 1)],
                       "a line starting with mqtt gets no second prefix")
        XCTAssertEqual(machine.link, .waiting(until: 4))
    }

    func testDisconnectWhileConnectingSaysCannotConnectWithTheTLSHint() {
        var machine = makeMachine()
        _ = machine.tick(now: 0, socketOpen: false)
        let tls = MosquittoError(kind: .tls, text: "A TLS error occurred.")
        XCTAssertEqual(warnings(machine.disconnected(generation: 1, cause: .library(tls), now: 1)),
                       ["mqtt: cannot connect to broker:1883: A TLS error occurred. (check mqtt.tls: the CA must have signed the broker's certificate, which must name the host)"])
        _ = machine.tick(now: 10, socketOpen: false)
        XCTAssertEqual(warnings(machine.disconnected(generation: 2, cause: .library(Self.connectionLost), now: 10)),
                       ["mqtt: cannot connect to broker:1883: The connection was lost."], "no hint without TLS")
    }

    // MARK: a connection that ends

    func testLostConnectionRequeuesUnacknowledgedMessagesInOrder() {
        var machine = makeConnected(jitter: [1], at: 0)
        for _ in 0..<3 { _ = machine.spooled(bytes: 10) }   // sends 0, then 1 after its `sent`
        XCTAssertEqual(machine.sent(sequence: 0, mid: 1, now: 1), [.send(sequence: 1)])
        XCTAssertEqual(machine.sent(sequence: 1, mid: 2, now: 1), [])
        XCTAssertEqual(machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 5), [
            .log(.warning, "mqtt: connection to broker:1883 lost: The connection was lost."),
            .disconnect(withWill: false), .scheduleRetry(after: 1),
        ])
        XCTAssertFalse(machine.stats.connected)
        XCTAssertEqual(machine.stats.inFlight, 0)
        XCTAssertEqual(machine.spool.sequences, [0, 1, 2])
        XCTAssertEqual(machine.published(generation: 1, mid: 1, reason: MQTTReason(code: 0, text: "Success")), [],
                       "a PUBACK after the loss does not count: the message waits again")
        _ = machine.tick(now: 6, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 2, now: 6).last, .send(sequence: 0), "the unacknowledged go first")
        XCTAssertEqual(machine.stats.connections, 2)
    }

    func testSessionTakenOverIsReportedWithTheBrokersReason() {
        var machine = makeConnected()
        let reason = MQTTReason(code: 0x8E, text: "Session taken over")
        XCTAssertTrue(reason.isSessionTakenOver)
        let actions = machine.disconnected(generation: 1, cause: .broker(reason), now: 1)
        XCTAssertEqual(warnings(actions), ["mqtt: connection to broker:1883 lost: the broker disconnected: Session taken over (reason code 142)"])
        XCTAssertEqual(machine.stats.lastError, "connection to broker:1883 lost: the broker disconnected: Session taken over (reason code 142)")
    }

    func testClosedSocketAbandonsTheConnection() {
        var machine = makeConnected(jitter: [1], at: 0)
        XCTAssertEqual(machine.tick(now: 0.5, socketOpen: true), [])
        XCTAssertEqual(machine.tick(now: 1, socketOpen: false), [
            .log(.warning, "mqtt: the connection's socket closed (network thread gone)"),
            .disconnect(withWill: false), .scheduleRetry(after: 1),
        ])
    }

    func testPubackWatchdogAbandonsASilentConnection() {
        var machine = makeConnected({ $0.statusInterval = 0 }, at: 0)
        XCTAssertEqual(machine.ackTimeout, 60, "2 x keepalive")
        _ = machine.spooled(bytes: 10)
        _ = machine.sent(sequence: 0, mid: 1, now: 10)
        XCTAssertEqual(machine.tick(now: 70, socketOpen: true), [], "60 s is still patient")
        XCTAssertEqual(warnings(machine.tick(now: 70.5, socketOpen: true)),
                       ["mqtt: no PUBACK for 60 s; abandoning the connection"])
        XCTAssertEqual(machine.spool.sequences, [0], "the message waits for the next connection")
        XCTAssertEqual(makeConnected({ $0.keepalive = 0 }).ackTimeout, 10, "at least 10 s")
    }

    func testEventsOfAReplacedOrStoppedClientAreIgnored() {
        var machine = makeConnected(jitter: [1], at: 0)
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)
        // The stopped client's own disconnect arrives later, with its generation.
        XCTAssertEqual(machine.disconnected(generation: 1, cause: .normal, now: 1.1), [])
        XCTAssertEqual(machine.connected(generation: 1, now: 1.2), [])
        XCTAssertEqual(machine.link, .waiting(until: 2))
        _ = machine.tick(now: 2, socketOpen: false)
        XCTAssertEqual(machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 2.1), [])
        XCTAssertEqual(machine.connectFailed(generation: 1, reason: .refused(MQTTReason(code: 135, text: "Not authorized")), now: 2.1), [])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"status"}"#)), [])
        XCTAssertEqual(machine.link, .connecting(deadline: 17))
        XCTAssertEqual(machine.connected(generation: 2, now: 3).count, 3, "log, subscribe, status")
    }

    func testARepeatedProblemIsLoggedOnceThenAtDebugUntilAConnection() {
        var machine = makeMachine(jitter: [1, 1, 1])
        var now = 0.0
        func level(_ actions: [Action]) -> Logger.Level? {
            if case .log(let level, _)? = actions.first { return level }
            return nil
        }
        var levels: [Logger.Level?] = []
        for _ in 0..<3 {
            _ = machine.tick(now: now, socketOpen: false)
            let actions = machine.connectFailed(generation: machine.generation, reason: .setup("connect to broker:1883: refused"), now: now)
            XCTAssertEqual(actions.first, .log(level(actions) ?? .error, "mqtt: connect to broker:1883: refused"))
            levels.append(level(actions))
            now += 10
        }
        XCTAssertEqual(levels, [.warning, .debug, .debug])
        XCTAssertEqual(machine.stats.lastError, "connect to broker:1883: refused")
        // The same failure on both sides of a connection is said both times.
        levels = []
        for _ in 0..<2 {
            _ = machine.tick(now: now, socketOpen: false)
            _ = machine.connected(generation: machine.generation, now: now)
            levels.append(level(machine.tick(now: now + 1, socketOpen: false)))
            now += 10
        }
        XCTAssertEqual(levels, [.warning, .warning])
    }

    // MARK: spooled messages

    func testPubackDeliversDeletesAndSendsTheNext() {
        var machine = makeConnected()
        for _ in 0..<3 { _ = machine.spooled(bytes: 10) }
        _ = machine.sent(sequence: 0, mid: 5, now: 1)
        _ = machine.sent(sequence: 1, mid: 6, now: 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 6, reason: MQTTReason(code: 0, text: "Success")),
                       [.deleteStored(sequence: 1), .send(sequence: 2)])
        XCTAssertEqual(machine.stats.delivered, 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 6, reason: MQTTReason(code: 0, text: "Success")), [],
                       "a PUBACK counts once")
        XCTAssertEqual(machine.published(generation: 1, mid: 99, reason: MQTTReason(code: 0, text: "Success")), [],
                       "ids of the status and replies are not the spool's")
        XCTAssertEqual(machine.stats.delivered, 1)
    }

    func testPubackWithAFailureReasonCountsARefusal() {
        var machine = makeConnected()
        _ = machine.spooled(bytes: 10)
        _ = machine.sent(sequence: 0, mid: 3, now: 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 3, reason: MQTTReason(code: 0x87, text: "Not authorized")), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: broker refused message 0: Not authorized (reason code 135)"),
        ])
        XCTAssertEqual(machine.stats.refused, 1)
        XCTAssertEqual(machine.stats.delivered, 0)
        XCTAssertEqual(machine.stats.spooledMessages, 0)
    }

    func testPublishRefusedWhileTheConnectionGoesKeepsTheMessage() {
        var machine = makeConnected()
        XCTAssertEqual(machine.spooled(bytes: 10), [.send(sequence: 0)])
        let errors = [Self.noConnection, Self.connectionLost, MosquittoError(kind: .outOfMemory, text: "Out of memory."),
                      MosquittoError(kind: .system, text: "Broken pipe")]
        for (index, error) in errors.enumerated() {
            XCTAssertEqual(machine.sendFailed(sequence: 0, reason: .library(error, topic: "plant/mic0/fan", bytes: 10)), [])
            XCTAssertEqual(machine.spool.sequences, Array(0...UInt64(index)), "nothing dropped")
            XCTAssertEqual(machine.stats.refused, 0)
            XCTAssertEqual(machine.spooled(bytes: 10), [.send(sequence: 0)], "tried again at the next occasion")
        }
    }

    func testPublishRefusedForGoodDropsTheMessageAndSendsTheNext() {
        var machine = makeConnected()
        _ = machine.spooled(bytes: 300)
        _ = machine.spooled(bytes: 10)
        let tooLarge = MosquittoError(kind: .payloadTooLarge, text: "Payload too large.")
        XCTAssertEqual(machine.sendFailed(sequence: 0, reason: .library(tooLarge, topic: "plant/mic0/fan", bytes: 300)), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: cannot publish to plant/mic0/fan (300 bytes): Payload too large.; message dropped"),
            .send(sequence: 1),
        ])
        XCTAssertEqual(machine.stats.refused, 1)
        XCTAssertEqual(machine.sendFailed(sequence: 7, reason: .unreadable("x")), [], "only the message handed out")
        XCTAssertEqual(machine.sendFailed(sequence: 1, reason: .unreadable("mqtt spool: cannot read /s/1.msg")), [
            .deleteStored(sequence: 1), .log(.warning, "mqtt spool: cannot read /s/1.msg; message dropped"),
        ])
        XCTAssertEqual(machine.stats.refused, 2)
        XCTAssertEqual(machine.stats.spooledMessages, 0)
    }

    func testFullSpoolDropsTheOldestAndTheirFilesAndAFailedWriteCounts() {
        var machine = makeMachine()
        XCTAssertEqual(machine.spool.nextSequence, 0)
        XCTAssertEqual(machine.spooled(bytes: 600), [])
        XCTAssertEqual(machine.spooled(bytes: 600), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: spool full (1024 bytes): dropped 1 oldest message(s)"),
        ])
        XCTAssertEqual(machine.stats.dropped, 1)
        XCTAssertEqual(machine.stats.spooledBytes, 600)
        XCTAssertEqual(machine.spoolWriteFailed(topic: "plant/mic1/pump", error: "mqtt spool: cannot write /s/2.msg: disk full"),
                       [.log(.warning, "mqtt spool: cannot write /s/2.msg: disk full; message to plant/mic1/pump dropped")])
        XCTAssertEqual(machine.stats.dropped, 2)
        let restored = ConnectionMachine(settings: settings(), spool: SpoolState(limitBytes: 1024), droppedAtStart: 4,
                                         randomUnit: { 0 })
        XCTAssertEqual(restored.stats.dropped, 4, "drops of the restore count")
    }

    // MARK: status, replies, commands

    func testStatusOnChangeAndEveryInterval() {
        var machine = makeConnected(at: 0)                 // published at 0
        XCTAssertEqual(machine.tick(now: 59.9, socketOpen: true), [])
        XCTAssertEqual(machine.tick(now: 60, socketOpen: true), [.publishStatus])
        XCTAssertEqual(machine.tick(now: 60.5, socketOpen: true), [])
        XCTAssertEqual(machine.statusChanged(), [], "sent at the next tick")
        XCTAssertEqual(machine.tick(now: 61, socketOpen: true), [.publishStatus])
        XCTAssertEqual(machine.tick(now: 61.5, socketOpen: true), [])
        XCTAssertEqual(machine.tick(now: 120.9, socketOpen: true), [], "the interval counts from the last one")
        XCTAssertEqual(machine.tick(now: 121, socketOpen: true), [.publishStatus])

        var onChange = makeConnected({ $0.statusInterval = 0 }, at: 0)
        XCTAssertEqual(onChange.tick(now: 10_000, socketOpen: true), [], "0: only on change and on connection")
        _ = onChange.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 10_000)
        XCTAssertEqual(onChange.statusChanged(), [])
        XCTAssertFalse(onChange.tick(now: 10_000.1, socketOpen: false).contains(.publishStatus), "not while disconnected")
    }

    func testRepliesWaitForAConnectionAndTheOldestBeyondTheLimitAreDropped() {
        var machine = makeMachine()
        let routes = (0..<34).map { ReplyRoute(topic: "ops/reply/\($0)", correlationData: [UInt8($0)]) }
        for route in routes { XCTAssertEqual(machine.replyRequested(route, json: "{}"), []) }
        XCTAssertEqual(machine.pendingReplies.count, ConnectionMachine.pendingReplyLimit)
        _ = machine.tick(now: 0, socketOpen: false)
        let actions = machine.connected(generation: 1, now: 0)
        XCTAssertEqual(Array(actions.dropFirst(3)), routes.dropFirst(2).map { .sendReply($0, json: "{}") },
                       "after the status, oldest first, the first two dropped")
        XCTAssertEqual(machine.pendingReplies.count, 0)
        XCTAssertEqual(machine.replyRequested(routes[0], json: #"{"ok":true}"#), [.sendReply(routes[0], json: #"{"ok":true}"#)],
                       "connected: at once")
    }

    func testCommandsAreFilteredParsedAndRefusalsAnswered() {
        var machine = makeConnected()
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"stop"}"#, topic: "plant/other")), [])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"stop","id":"r"}"#, retain: true)),
                       [.log(.warning, "mqtt: ignoring a retained message on plant/cmd")])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"status","id":"s1"}"#)),
                       [.deliverCommand(CommandRequest(command: .status, id: "s1"),
                                        ReplyRoute(topic: "plant/cmd/response", correlationData: nil))])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"reload","id":"r1"}"#,
                                                                     responseTopic: "ops/reply/7", correlation: [4, 2])),
                       [.deliverCommand(CommandRequest(command: .reload, id: "r1"),
                                        ReplyRoute(topic: "ops/reply/7", correlationData: [4, 2]))])
        let defaultRoute = ReplyRoute(topic: "plant/cmd/response", correlationData: nil)
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"explode","id":"e1"}"#)), [
            .log(.notice, #"mqtt: command refused: unknown command "explode""#),
            .sendReply(defaultRoute, json: #"{"error":"unknown command \"explode\"","id":"e1","ok":false}"#),
        ])
        // The lost client's messages still queued count (the broker delivered them); the
        // refusal waits for the next connection.
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")),
                       [.log(.notice, "mqtt: command refused: malformed JSON")])
        XCTAssertEqual(machine.pendingReplies.count, 1)
        // Once the next client exists, the old one's are late echoes.
        _ = machine.tick(now: 10, socketOpen: false)
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")), [])
        XCTAssertEqual(machine.pendingReplies.count, 1)
    }

    func testARefusalBeforeTheEngineSeesTheConnackIsAnsweredOnceConnected() {
        var machine = makeMachine(jitter: [1])
        _ = machine.tick(now: 0, socketOpen: false)
        // A message can arrive between the network thread's CONNACK and the engine seeing
        // it; here the refusal's reply is requested while still connecting.
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")),
                       [.log(.notice, "mqtt: command refused: malformed JSON")])
        XCTAssertEqual(machine.pendingReplies.map(\.json), [#"{"error":"malformed JSON","id":null,"ok":false}"#])
        XCTAssertTrue(machine.connected(generation: 1, now: 0).contains(
            .sendReply(ReplyRoute(topic: "plant/cmd/response", correlationData: nil),
                       json: #"{"error":"malformed JSON","id":null,"ok":false}"#)))
    }

    func testProblemsOfTheEnginesOwnIOAreNoted() {
        var machine = makeConnected()
        XCTAssertEqual(machine.problem("status publish: The client is not currently connected."),
                       [.log(.warning, "mqtt: status publish: The client is not currently connected.")])
        XCTAssertEqual(machine.stats.lastError, "status publish: The client is not currently connected.")
    }

    // MARK: shutdown

    func testShutdownWithAnEmptySpoolDisconnectsWithTheWillAndCloses() {
        var machine = makeConnected()
        XCTAssertEqual(machine.shutdownRequested(deadline: 5), [])
        XCTAssertEqual(machine.tick(now: 1, socketOpen: true), [.disconnect(withWill: true), .exit])
        XCTAssertEqual(machine.link, .closed)
        XCTAssertFalse(machine.stats.connected)
        XCTAssertEqual(machine.tick(now: 2, socketOpen: true), [], "closed: nothing more")
        XCTAssertEqual(machine.nextTick(now: 2), 2)
        XCTAssertEqual(machine.connected(generation: 1, now: 2), [])
        XCTAssertEqual(machine.disconnected(generation: 1, cause: .normal, now: 2), [])
    }

    func testShutdownWaitsForTheSpoolToDrain() {
        var machine = makeConnected()
        _ = machine.spooled(bytes: 10)
        _ = machine.sent(sequence: 0, mid: 1, now: 0)
        _ = machine.shutdownRequested(deadline: 5)
        XCTAssertEqual(machine.tick(now: 1, socketOpen: true), [], "still delivering")
        XCTAssertEqual(machine.nextTick(now: 4.8), 5, "woken at the deadline")
        _ = machine.published(generation: 1, mid: 1, reason: MQTTReason(code: 0, text: "Success"))
        XCTAssertEqual(machine.tick(now: 2, socketOpen: true), [.disconnect(withWill: true), .exit])
        XCTAssertEqual(machine.stats.delivered, 1)
    }

    func testShutdownDeadlineLeavesTheRestInTheSpool() {
        var machine = makeConnected()
        for _ in 0..<3 { _ = machine.spooled(bytes: 10) }
        _ = machine.shutdownRequested(deadline: 5)
        _ = machine.shutdownRequested(deadline: 9)
        XCTAssertEqual(machine.flushDeadline, 5, "a later request only brings it closer")
        XCTAssertEqual(machine.tick(now: 5, socketOpen: true), [
            .disconnect(withWill: true),
            .log(.warning, "mqtt: 3 messages left in the spool at shutdown"),
            .exit,
        ])
    }

    func testShutdownWhileWaitingStillReconnectsWithinTheWindow() {
        var machine = makeConnected(jitter: [1], at: 0)
        _ = machine.spooled(bytes: 10)
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)   // retry at 2
        _ = machine.shutdownRequested(deadline: 4)
        XCTAssertEqual(machine.nextTick(now: 1.8), 2)
        XCTAssertEqual(machine.tick(now: 2, socketOpen: false), [.connect(generation: 2)], "a reconnect may still deliver")
        XCTAssertEqual(machine.tick(now: 4, socketOpen: false), [
            .disconnect(withWill: true),
            .log(.warning, "mqtt: 1 messages left in the spool at shutdown"),
            .exit,
        ])
        var waiting = makeMachine(jitter: [1])
        _ = waiting.spooled(bytes: 10)
        _ = waiting.tick(now: 0, socketOpen: false)
        _ = waiting.connectFailed(generation: 1, reason: .setup("no"), now: 0)
        _ = waiting.shutdownRequested(deadline: 0.5)
        XCTAssertEqual(waiting.tick(now: 0.5, socketOpen: false),
                       [.log(.warning, "mqtt: 1 messages left in the spool at shutdown"), .exit],
                       "no client, so nothing to disconnect")
    }

    func testNextTickIsTheNearestDeadlineAtMostAPollIntervalAway() {
        var machine = makeMachine({ $0.connectTimeout = 0.25 }, jitter: [1])
        XCTAssertEqual(machine.nextTick(now: 3), 3, "first attempt due")
        _ = machine.tick(now: 3, socketOpen: false)
        XCTAssertEqual(machine.nextTick(now: 3), 3.25, "the CONNACK deadline")
        _ = machine.tick(now: 3.25, socketOpen: false)               // no CONNACK: retry in 1 s
        XCTAssertEqual(machine.nextTick(now: 3.25), 3.75, "the poll interval caps the sleep")
        XCTAssertEqual(machine.nextTick(now: 4), 4.25, "the retry")
        _ = machine.tick(now: 4.25, socketOpen: false)
        _ = machine.connected(generation: 2, now: 4.25)
        XCTAssertEqual(machine.nextTick(now: 5), 5 + ConnectionMachine.pollInterval)
        _ = machine.shutdownRequested(deadline: 5.125)
        XCTAssertEqual(machine.nextTick(now: 5), 5.125, "the shutdown deadline")
    }
}
