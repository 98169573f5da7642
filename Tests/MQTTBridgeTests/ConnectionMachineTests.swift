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

/// A wall clock the test sets (seconds since 1970).
final class FakeWallClock {
    var now: Double = 1_800_000_000
    func read() -> Double { now }
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

    private let wall = FakeWallClock()

    private func makeMachine(_ change: (inout MQTTSettings) -> Void = { _ in }, jitter: [Double] = [],
                             spool: SpoolState? = nil, birth: Bool = false) -> ConnectionMachine {
        let settings = settings(change)
        let source = JitterSource(jitter)
        return ConnectionMachine(settings: settings, spool: spool ?? SpoolState(limitBytes: settings.spoolLimitBytes),
                                 publishesBirth: birth, randomUnit: source.next, wallClock: wall.read)
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

    private static let success = MQTTReason(code: 0, text: "Success")
    private static let defaultRoute = ReplyRoute(topic: "plant/cmd/response", correlationData: nil)

    /// The JSON of every `.sendReply` in `actions`.
    private func replies(_ actions: [Action]) -> [String] {
        actions.compactMap { if case .sendReply(_, _, let json) = $0 { return json } else { return nil } }
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
        for _ in 0..<3 { XCTAssertEqual(machine.spooled(bytes: 100, now: 0), [], "nothing goes out while disconnected") }
        XCTAssertEqual(machine.stats.backlog, 3, "made while disconnected: the backlog")
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 1, now: 2), [
            .log(.info, "mqtt: connected to broker:1883 as agent-7, 3 spooled messages to send"),
            .subscribe(topic: "plant/cmd"),
            .publishStatus,
            .send(sequence: 0, replayed: true),
        ])
        XCTAssertEqual(machine.link, .connected)
        XCTAssertTrue(machine.stats.connected)
        XCTAssertEqual(machine.stats.connections, 1)
        XCTAssertEqual(machine.sent(sequence: 0, mid: 10, now: 2), [.send(sequence: 1, replayed: true)], "one at a time")
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
        var machine = makeMachine(jitter: [0, 1, 0.5, 0.25, 1, 0, 1, 1])
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
        let keepalive = MosquittoError(kind: .keepalive, text: "Keepalive timeout.")
        let early = machine.disconnected(generation: 7, cause: .library(keepalive), now: now + 1)
        XCTAssertEqual(early.last, .scheduleRetry(after: 8.0), "a connection that did not last: the backoff goes on (jitter 1)")
        now += 9
        _ = machine.tick(now: now, socketOpen: false)
        _ = machine.connected(generation: 8, now: now)
        XCTAssertEqual(machine.tick(now: now + 10, socketOpen: true), [], "stable after takeoverWindow (10 s)")
        let lost = machine.disconnected(generation: 8, cause: .library(Self.connectionLost), now: now + 11)
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
        for _ in 0..<3 { _ = machine.spooled(bytes: 10, now: 1) }   // sends 0, then 1 after its `sent`
        XCTAssertEqual(machine.sent(sequence: 0, mid: 1, now: 1), [.send(sequence: 1, replayed: false)], "live")
        XCTAssertEqual(machine.sent(sequence: 1, mid: 2, now: 1), [])
        XCTAssertEqual(machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 5), [
            .log(.warning, "mqtt: connection to broker:1883 lost: The connection was lost."),
            .disconnect(withWill: false), .scheduleRetry(after: 1),
        ])
        XCTAssertFalse(machine.stats.connected)
        XCTAssertEqual(machine.stats.inFlight, 0)
        XCTAssertEqual(machine.spool.sequences, [0, 1, 2])
        XCTAssertEqual(machine.spool.backlogSequences, [0, 1, 2], "sent or not, all wait in the backlog now")
        XCTAssertEqual(machine.published(generation: 1, mid: 1, reason: Self.success, now: 5), [],
                       "a PUBACK after the loss does not count: the message waits again")
        _ = machine.tick(now: 6, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 2, now: 6).last, .send(sequence: 0, replayed: true),
                       "the unacknowledged go first, replayed")
        XCTAssertEqual(machine.stats.connections, 2)
    }

    func testSessionTakenOverIsReportedWithTheBrokersReason() {
        var machine = makeConnected()
        let reason = MQTTReason(code: 0x8E, text: "Session taken over")
        XCTAssertTrue(reason.isSessionTakenOver)
        let actions = machine.disconnected(generation: 1, cause: .broker(reason), now: 1)
        let takeover = "another client is using client id agent-7: the broker says the session was taken over (Session taken over (reason code 142)); retrying every 8 s"
        XCTAssertEqual(warnings(actions), ["mqtt: connection to broker:1883 lost: the broker disconnected: Session taken over (reason code 142)",
                                           "mqtt: " + takeover])
        XCTAssertEqual(actions.last, .scheduleRetry(after: 7.2), "at the cap (8 s, jitter 0.5), not from 1 s")
        XCTAssertEqual(machine.stats.lastError, takeover)
        XCTAssertTrue(machine.stats.clientIDConflict)
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
        _ = machine.spooled(bytes: 10, now: 10)
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
        XCTAssertEqual(machine.published(generation: 1, mid: 1, reason: Self.success, now: 2.1), [])
        // A command the old client received was acknowledged to the broker, which will not
        // send it again (clean start): it is still carried out.
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"status"}"#)),
                       [.deliverCommand(CommandRequest(command: .status, id: nil), Self.defaultRoute, token: 1)])
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
        for _ in 0..<3 { _ = machine.spooled(bytes: 10, now: 1) }
        _ = machine.sent(sequence: 0, mid: 5, now: 1)
        _ = machine.sent(sequence: 1, mid: 6, now: 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 6, reason: Self.success, now: 1),
                       [.deleteStored(sequence: 1), .send(sequence: 2, replayed: false)])
        XCTAssertEqual(machine.stats.delivered, 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 6, reason: Self.success, now: 1), [],
                       "a PUBACK counts once")
        XCTAssertEqual(machine.published(generation: 1, mid: 99, reason: Self.success, now: 1), [],
                       "ids of the status and replies are not the spool's")
        XCTAssertEqual(machine.stats.delivered, 1)
    }

    func testPubackWithAFailureReasonCountsARefusal() {
        var machine = makeConnected()
        _ = machine.spooled(bytes: 10, now: 1)
        _ = machine.sent(sequence: 0, mid: 3, now: 1)
        XCTAssertEqual(machine.published(generation: 1, mid: 3, reason: MQTTReason(code: 0x87, text: "Not authorized"), now: 1), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: broker refused message 0: Not authorized (reason code 135)"),
        ])
        XCTAssertEqual(machine.stats.refused, 1)
        XCTAssertEqual(machine.stats.delivered, 0)
        XCTAssertEqual(machine.stats.spooledMessages, 0)
        XCTAssertEqual(machine.stats.lastError, "broker refused message 0: Not authorized (reason code 135)")
        // The next message delivered ends the condition.
        _ = machine.spooled(bytes: 10, now: 2)
        _ = machine.sent(sequence: 1, mid: 4, now: 2)
        _ = machine.published(generation: 1, mid: 4, reason: Self.success, now: 2)
        XCTAssertNil(machine.stats.lastError)
        XCTAssertEqual(machine.stats.recentProblems.map(\.message), ["broker refused message 0: Not authorized (reason code 135)"])
    }

    func testPublishRefusedWhileTheConnectionGoesKeepsTheMessage() {
        var machine = makeConnected()
        XCTAssertEqual(machine.spooled(bytes: 10, now: 1), [.send(sequence: 0, replayed: false)])
        let errors = [Self.noConnection, Self.connectionLost, MosquittoError(kind: .outOfMemory, text: "Out of memory."),
                      MosquittoError(kind: .system, text: "Broken pipe")]
        for (index, error) in errors.enumerated() {
            XCTAssertEqual(machine.sendFailed(sequence: 0, reason: .library(error, topic: "plant/mic0/fan", bytes: 10), now: 1), [])
            XCTAssertEqual(machine.spool.sequences, Array(0...UInt64(index)), "nothing dropped")
            XCTAssertEqual(machine.stats.refused, 0)
            XCTAssertEqual(machine.spooled(bytes: 10, now: 1), [.send(sequence: 0, replayed: false)], "tried again at the next occasion")
        }
    }

    func testPublishRefusedForGoodDropsTheMessageAndSendsTheNext() {
        var machine = makeConnected()
        _ = machine.spooled(bytes: 300, now: 1)
        _ = machine.spooled(bytes: 10, now: 1)
        let tooLarge = MosquittoError(kind: .payloadTooLarge, text: "Payload too large.")
        XCTAssertEqual(machine.sendFailed(sequence: 0, reason: .library(tooLarge, topic: "plant/mic0/fan", bytes: 300), now: 1), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: cannot publish to plant/mic0/fan (300 bytes): Payload too large.; message dropped"),
            .send(sequence: 1, replayed: false),
        ])
        XCTAssertEqual(machine.stats.refused, 1)
        XCTAssertEqual(machine.sendFailed(sequence: 7, reason: .unreadable("x"), now: 1), [], "only the message handed out")
        XCTAssertEqual(machine.sendFailed(sequence: 1, reason: .unreadable("mqtt spool: cannot read /s/1.msg"), now: 1), [
            .deleteStored(sequence: 1), .log(.warning, "mqtt spool: cannot read /s/1.msg; message dropped"),
        ])
        XCTAssertEqual(machine.stats.refused, 2)
        XCTAssertEqual(machine.stats.spooledMessages, 0)
    }

    func testFullSpoolDropsTheOldestAndTheirFilesAndAFailedWriteCounts() {
        var machine = makeMachine({ $0.spoolMemoryLimitBytes = 4096 })
        XCTAssertEqual(machine.spool.nextSequence, 0)
        XCTAssertEqual(machine.spooled(bytes: 600, now: 0), [])
        XCTAssertEqual(machine.spooled(bytes: 600, now: 0), [
            .deleteStored(sequence: 0),
            .log(.warning, "mqtt: spool full (1024 bytes): dropped 1 oldest message(s)"),
        ])
        XCTAssertEqual(machine.spooled(bytes: 600, now: 0), [
            .deleteStored(sequence: 1),
            .log(.debug, "mqtt: spool full (1024 bytes): dropped 1 oldest message(s)"),
        ], "said once while the spool stays full")
        XCTAssertEqual(machine.stats.dropped, 2)
        XCTAssertEqual(machine.stats.spooledBytes, 600)
        XCTAssertEqual(machine.spoolWriteFailed(topic: "plant/mic1/pump", error: "mqtt spool: cannot write /s/3.msg: No space left on device", now: 0),
                       [.log(.warning, "mqtt spool: cannot write /s/3.msg: No space left on device; the memory reserve (4096 bytes) is full too: message to plant/mic1/pump lost")])
        XCTAssertEqual(machine.stats.dropped, 2, "not a drop of the spool's bound")
        XCTAssertEqual(machine.stats.lost, 1, "but lost, and counted")
        let restored = ConnectionMachine(settings: settings(), spool: SpoolState(limitBytes: 1024), droppedAtStart: 4,
                                         randomUnit: { 0 }, wallClock: wall.read)
        XCTAssertEqual(restored.stats.dropped, 4, "drops of the restore count")
        XCTAssertEqual(machine.lostAtExit(inMemory: 3),
                       [.log(.warning, "mqtt: 3 messages kept in memory (their disk refused them) were not delivered before shutdown: lost")])
        XCTAssertEqual(machine.stats.lost, 4)
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

    func testRepliesWaitForAConnectionAndStayUntilTheirPuback() {
        var machine = makeMachine(jitter: [1, 1])
        let routes = (0..<40).map { ReplyRoute(topic: "ops/reply/\($0)", correlationData: [UInt8($0)]) }
        for route in routes { XCTAssertEqual(machine.replyRequested(route, json: "{}"), []) }
        XCTAssertEqual(machine.replies.count, 40, "none dropped while disconnected")
        _ = machine.tick(now: 0, socketOpen: false)
        let actions = machine.connected(generation: 1, now: 0)
        let sent = actions.compactMap { action -> (UInt64, ReplyRoute)? in
            if case .sendReply(let id, let route, _) = action { return (id, route) }
            return nil
        }
        XCTAssertEqual(sent.map(\.1), routes, "after the status, oldest first")
        // Published; half of them acknowledged before the connection is lost.
        for (index, (id, _)) in sent.enumerated() { _ = machine.replySent(id: id, mid: Int32(100 + index)) }
        for index in 0..<20 { _ = machine.published(generation: 1, mid: Int32(100 + index), reason: Self.success, now: 1) }
        XCTAssertEqual(machine.stats.pendingReplies, 20)
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 2)
        _ = machine.tick(now: 3, socketOpen: false)
        let again = machine.connected(generation: 2, now: 3)
        XCTAssertEqual(again.compactMap { if case .sendReply(_, let route, _) = $0 { return route } else { return nil } },
                       Array(routes[20...]), "the unacknowledged are sent again, in order")
        XCTAssertEqual(machine.replyRequested(routes[0], json: #"{"ok":true}"#).count, 1, "connected: at once")
        XCTAssertEqual(machine.stats.lostReplies, 0)
        // A reply libmosquitto refuses for good is dropped and counted; a lost link keeps it.
        guard case .sendReply(let id, _, _)? = again.first(where: { if case .sendReply = $0 { return true } else { return false } }) else {
            return XCTFail("no reply sent")
        }
        XCTAssertEqual(machine.replyFailed(id: id, error: Self.noConnection), [])
        XCTAssertEqual(machine.replies.count, 21)
        XCTAssertEqual(warnings(machine.replyFailed(id: id, error: MosquittoError(kind: .payloadTooLarge, text: "Payload too large."))),
                       ["mqtt: reply to ops/reply/20 not sent: Payload too large."])
        XCTAssertEqual(machine.stats.lostReplies, 1)
    }

    func testRepliesBeyondTheirLimitDropTheOldestAndCount() {
        var machine = makeMachine({ $0.replyLimit = 3 })
        for index in 0..<5 { _ = machine.replyRequested(ReplyRoute(topic: "r/\(index)"), json: "{}") }
        XCTAssertEqual(machine.replies.values.map(\.route.topic).sorted(), ["r/2", "r/3", "r/4"])
        XCTAssertEqual(machine.stats.lostReplies, 2, "never silently")
        _ = machine.shutdownRequested(deadline: 0)
        XCTAssertTrue(machine.tick(now: 0, socketOpen: false).contains(
            .log(.warning, "mqtt: 3 command replies not acknowledged by the broker at shutdown (lost_replies)")))
        XCTAssertEqual(machine.stats.lostReplies, 5)
    }

    func testCommandsAreFilteredParsedAndRefusalsAnswered() {
        var machine = makeConnected()
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"stop"}"#, topic: "plant/other")), [])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"stop","id":"r"}"#, retain: true)),
                       [.log(.warning, "mqtt: ignoring a retained message on plant/cmd")])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"status","id":"s1"}"#)),
                       [.deliverCommand(CommandRequest(command: .status, id: "s1"), Self.defaultRoute, token: 1)])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"reload","id":"r1"}"#,
                                                                     responseTopic: "ops/reply/7", correlation: [4, 2])),
                       [.deliverCommand(CommandRequest(command: .reload, id: "r1"),
                                        ReplyRoute(topic: "ops/reply/7", correlationData: [4, 2]), token: 2)])
        XCTAssertEqual(machine.messageArrived(generation: 1, command(#"{"command":"explode","id":"e1"}"#)), [
            .log(.notice, #"mqtt: command refused: unknown command "explode""#),
            .sendReply(id: 1, Self.defaultRoute, json: #"{"error":"unknown command \"explode\"","id":"e1","ok":false}"#),
        ])
        XCTAssertEqual(machine.stats.refusedCommands, 1)
        XCTAssertEqual(machine.stats.outstandingCommands, 2)
        // The lost client's messages still queued count (the broker delivered them); the
        // refusal waits for the next connection.
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")),
                       [.log(.notice, "mqtt: command refused: malformed JSON")])
        XCTAssertEqual(machine.replies.count, 2, "the refusal sent before the loss has no PUBACK yet: both wait")
        _ = machine.tick(now: 10, socketOpen: false)
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")).count, 1, "a late one of the old client too")
        XCTAssertEqual(machine.replies.count, 3)
    }

    func testAResponseTopicIsCheckedBeforeAnythingIsPublishedToIt() {
        var machine = makeConnected()
        let refusedTopics = [
            ("plant/mic0/mix", "'plant/mic0/mix' is one of the agent's own topics; replies go to plant/cmd/response[/...] or outside plant/"),
            ("plant/status", "'plant/status' is one of the agent's own topics; replies go to plant/cmd/response[/...] or outside plant/"),
            ("plant/meta", "'plant/meta' is one of the agent's own topics; replies go to plant/cmd/response[/...] or outside plant/"),
            ("plant", "'plant' is one of the agent's own topics; replies go to plant/cmd/response[/...] or outside plant/"),
            ("fuzz/#", "'fuzz/#' contains a wildcard (+ or #)"),
            ("ops/+/reply", "'ops/+/reply' contains a wildcard (+ or #)"),
            ("$SYS/broker", "'$SYS/broker' starts with $ (reserved)"),
            ("", "is empty"),
        ]
        for (topic, reason) in refusedTopics {
            let actions = machine.messageArrived(generation: 1, command(#"{"command":"stop","id":"x"}"#, responseTopic: topic,
                                                                         correlation: [7]))
            let json = CommandReply(id: "x", command: "stop", ok: false, error: "response topic refused: \(reason)").json
            XCTAssertEqual(actions.first, .log(.notice, "mqtt: command refused: response topic refused: \(reason)"), topic)
            guard case .sendReply(_, let route, let sentJSON)? = actions.last else { XCTFail("no reply for \(topic)"); continue }
            XCTAssertEqual(route, ReplyRoute(topic: "plant/cmd/response", correlationData: [7]), "the default topic, never \(topic)")
            XCTAssertEqual(sentJSON, json)
        }
        XCTAssertEqual(machine.stats.refusedCommands, refusedTopics.count)
        XCTAssertEqual(machine.stats.outstandingCommands, 0, "nothing reached the agent")
        XCTAssertNil(machine.stats.lastError, "a refused command is not the agent's error")
        for topic in ["plant/cmd/response", "plant/cmd/response/alice", "ops/reply/7", "plantx/mic0/mix"] {
            guard case .deliverCommand(_, let route, _)? = machine.messageArrived(
                generation: 1, command(#"{"command":"status"}"#, responseTopic: topic)).first else {
                XCTFail("\(topic) refused"); continue
            }
            XCTAssertEqual(route.topic, topic)
        }
    }

    /// A flood: at most `commandLimit` commands wait for the agent; a status beyond that is
    /// answered busy, a start/stop waits in one slot (a newer one replaces it, answered busy),
    /// so the capture converges on the last start/stop received.
    func testACommandFloodIsBoundedAnsweredBusyAndStartStopConverge() {
        var machine = makeConnected({ $0.commandLimit = 2 })
        func arrive(_ json: String) -> [Action] { machine.messageArrived(generation: 1, command(json)) }
        XCTAssertEqual(arrive(#"{"command":"status","id":"1"}"#),
                       [.deliverCommand(CommandRequest(command: .status, id: "1"), Self.defaultRoute, token: 1)])
        XCTAssertEqual(arrive(#"{"command":"calibrate","id":"2"}"#),
                       [.deliverCommand(CommandRequest(command: .calibrate(seconds: nil), id: "2"), Self.defaultRoute, token: 2)])
        XCTAssertEqual(replies(arrive(#"{"command":"status","id":"3"}"#)), [#"{"command":"status","error":"busy","id":"3","ok":false}"#])
        XCTAssertEqual(arrive(#"{"command":"stop","id":"4"}"#), [], "held")
        XCTAssertEqual(replies(arrive(#"{"command":"start","id":"5"}"#)), [#"{"command":"stop","error":"busy","id":"4","ok":false}"#],
                       "the newer start replaces the held stop")
        XCTAssertEqual(replies(arrive(#"{"command":"reload","id":"6"}"#)), [#"{"command":"reload","error":"busy","id":"6","ok":false}"#])
        XCTAssertEqual(machine.stats.busyCommands, 3)
        // The status is answered: room for the held start, handed over at once.
        let answered = machine.replyRequested(Self.defaultRoute, json: #"{"id":"1","ok":true}"#, token: 1)
        XCTAssertEqual(answered.last, .deliverCommand(CommandRequest(command: .start, id: "5"), Self.defaultRoute, token: 3))
        XCTAssertEqual(replies(answered), [#"{"id":"1","ok":true}"#])
        XCTAssertEqual(machine.stats.outstandingCommands, 2, "the calibrate (answered later) still counts")
        // Each command is answered once.
        XCTAssertEqual(machine.replyRequested(Self.defaultRoute, json: #"{"id":"1","ok":true}"#, token: 1),
                       [.log(.warning, #"mqtt: a second reply to the same command was not sent: {"id":"1","ok":true}"#)])
        XCTAssertEqual(replies(machine.replyRequested(Self.defaultRoute, json: #"{"id":"2","ok":true}"#, token: 2)),
                       [#"{"id":"2","ok":true}"#])
        XCTAssertEqual(arrive(#"{"command":"stop","id":"7"}"#),
                       [.deliverCommand(CommandRequest(command: .stop, id: "7"), Self.defaultRoute, token: 4)], "room again")
    }

    func testARefusalBeforeTheEngineSeesTheConnackIsAnsweredOnceConnected() {
        var machine = makeMachine(jitter: [1])
        _ = machine.tick(now: 0, socketOpen: false)
        // A message can arrive between the network thread's CONNACK and the engine seeing
        // it; here the refusal's reply is requested while still connecting.
        XCTAssertEqual(machine.messageArrived(generation: 1, command("{not json")),
                       [.log(.notice, "mqtt: command refused: malformed JSON")])
        XCTAssertEqual(machine.replies.values.map(\.json), [#"{"error":"malformed JSON","id":null,"ok":false}"#])
        XCTAssertTrue(machine.connected(generation: 1, now: 0).contains(
            .sendReply(id: 1, Self.defaultRoute, json: #"{"error":"malformed JSON","id":null,"ok":false}"#)))
    }

    func testProblemsOfTheEnginesOwnIOAreNotedUntilTheNextConnection() {
        var machine = makeConnected(jitter: [1])
        XCTAssertEqual(machine.problem("status publish: The client is not currently connected."),
                       [.log(.warning, "mqtt: status publish: The client is not currently connected.")])
        XCTAssertEqual(machine.stats.lastError, "status publish: The client is not currently connected.")
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)
        _ = machine.tick(now: 2, socketOpen: false)
        _ = machine.connected(generation: 2, now: 2)
        XCTAssertNil(machine.stats.lastError)
    }

    // MARK: problems: current, timed, cleared

    func testLastErrorCarriesItsTimeAndClearsWhenTheBrokerIsBack() {
        var machine = makeMachine(jitter: [1, 1])
        wall.now = 1_800_000_010
        _ = machine.tick(now: 0, socketOpen: false)
        _ = machine.connectFailed(generation: 1, reason: .setup("mqtt: connect to broker:1883: Connection refused"), now: 0)
        XCTAssertEqual(machine.stats.lastError, "mqtt: connect to broker:1883: Connection refused")
        XCTAssertEqual(machine.stats.lastErrorAt, 1_800_000_010)
        wall.now = 1_800_000_025
        _ = machine.tick(now: 1, socketOpen: false)
        _ = machine.connected(generation: 2, now: 1)
        XCTAssertNil(machine.stats.lastError, "the condition ended")
        XCTAssertNil(machine.stats.lastErrorAt)
        XCTAssertEqual(machine.stats.recentProblems, [BridgeProblem(message: "mqtt: connect to broker:1883: Connection refused",
                                                                    at: 1_800_000_010, clearedAt: 1_800_000_025)])
        let fields = MQTTBridge.statusFields(machine.stats)
        XCTAssertNil(fields["last_error"])
        XCTAssertEqual(fields["recent_errors"], .array([.object([
            "error": .string("mqtt: connect to broker:1883: Connection refused"),
            "at": .string("2027-01-15T08:00:10.000Z"), "cleared_at": .string("2027-01-15T08:00:25.000Z"),
        ])]))
        // Two conditions at once: the latest shows; ending it shows the other again.
        _ = machine.spooled(bytes: 10, diskError: "mqtt spool: cannot write /s/0.msg: No space left on device", now: 2)
        _ = machine.disconnected(generation: 2, cause: .library(Self.connectionLost), now: 3)
        XCTAssertEqual(machine.stats.lastError, "connection to broker:1883 lost: The connection was lost.")
        _ = machine.tick(now: 10, socketOpen: false)
        _ = machine.connected(generation: 3, now: 10)
        XCTAssertEqual(machine.stats.lastError?.hasPrefix("mqtt spool: cannot write /s/0.msg: No space left on device; keeping messages in memory"), true)
        XCTAssertEqual(machine.spooled(bytes: 10, now: 11).first, .log(.notice, "mqtt: the spool's disk takes messages again"))
        XCTAssertNil(machine.stats.lastError)
    }

    func testADiskThatRefusesWritesIsSaidOnceAndTheMessagesStillGoOut() {
        var machine = makeConnected()
        let first = machine.spooled(bytes: 10, diskError: "mqtt spool: cannot write /s/0.msg: No space left on device", now: 1)
        XCTAssertEqual(first, [
            .log(.warning, "mqtt spool: cannot write /s/0.msg: No space left on device; keeping messages in memory (up to 33554432 bytes) until the disk takes them again"),
            .send(sequence: 0, replayed: false),
        ])
        let second = machine.spooled(bytes: 10, diskError: "mqtt spool: cannot write /s/1.msg: No space left on device", now: 1)
        guard case .log(let level, _)? = second.first else { return XCTFail("\(second)") }
        XCTAssertEqual(level, .debug, "the same condition is not said again")
        XCTAssertEqual(machine.stats.heldInMemory, 2)
        XCTAssertEqual(machine.stats.lost, 0)
    }

    // MARK: the birth message

    func testTheBirthIsPublishedAndAcknowledgedBeforeTheFirstTensor() {
        var machine = makeMachine(birth: true)
        _ = machine.spooled(bytes: 10, now: 0)
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 1, now: 1), [
            .log(.info, "mqtt: connected to broker:1883 as agent-7, 1 spooled messages to send"),
            .subscribe(topic: "plant/cmd"),
            .publishBirth,
            .publishStatus,
        ], "no tensor before the birth")
        XCTAssertEqual(machine.birthSent(mid: 7, now: 1), [])
        XCTAssertEqual(machine.spooled(bytes: 10, now: 1), [], "live messages wait for the birth's PUBACK too")
        XCTAssertEqual(machine.published(generation: 1, mid: 7, reason: Self.success, now: 1), [.send(sequence: 1, replayed: false)],
                       "acknowledged: live first")
        XCTAssertEqual(machine.stats.delivered, 0, "the birth is not a tensor")
        // A changed document goes out again, ahead of what follows.
        XCTAssertEqual(machine.birthChanged(now: 2), [.publishBirth])
        _ = machine.sent(sequence: 1, mid: 8, now: 2)
        XCTAssertEqual(machine.birthSent(mid: 9, now: 2), [])
        XCTAssertEqual(machine.published(generation: 1, mid: 8, reason: Self.success, now: 2), [.deleteStored(sequence: 1)],
                       "the backlog waits for the new birth's PUBACK")
        XCTAssertEqual(machine.tick(now: 72.5, socketOpen: true).dropFirst().first, .disconnect(withWill: false),
                       "a birth never acknowledged trips the PUBACK watchdog")
        // No document yet (capture not started): tensors need not wait.
        _ = machine.tick(now: 100, socketOpen: false)
        _ = machine.connected(generation: 2, now: 100)
        XCTAssertEqual(machine.birthSkipped(now: 100), [.send(sequence: 0, replayed: true)])
        // Not connected: the change waits for the next connection.
        var offline = makeMachine(birth: true)
        XCTAssertEqual(offline.birthChanged(now: 0), [])
        var without = makeConnected()
        XCTAssertEqual(without.birthChanged(now: 0), [], "a bridge without a birth document")
    }

    // MARK: live first, paced backlog, replayed, expiry

    func testLiveMessagesGoFirstAndTheBacklogDrainsInOrderMarkedReplayed() {
        var machine = makeConnected({ $0.maxInFlight = 1 }, jitter: [1])
        _ = machine.disconnected(generation: 1, cause: .library(Self.connectionLost), now: 1)
        for _ in 0..<3 { _ = machine.spooled(bytes: 10, now: 1) }      // 0, 1, 2: backlog
        _ = machine.tick(now: 2, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 2, now: 2).last, .send(sequence: 0, replayed: true))
        _ = machine.sent(sequence: 0, mid: 1, now: 2)
        _ = machine.spooled(bytes: 10, now: 2)                           // 3: live
        XCTAssertEqual(machine.published(generation: 2, mid: 1, reason: Self.success, now: 2).last, .send(sequence: 3, replayed: false),
                       "the live message jumps the backlog")
        _ = machine.sent(sequence: 3, mid: 2, now: 2)
        XCTAssertEqual(machine.published(generation: 2, mid: 2, reason: Self.success, now: 2).last, .send(sequence: 1, replayed: true))
        _ = machine.sent(sequence: 1, mid: 3, now: 2)
        XCTAssertEqual(machine.published(generation: 2, mid: 3, reason: Self.success, now: 2).last, .send(sequence: 2, replayed: true),
                       "the backlog in order")
        XCTAssertEqual(machine.stats.replayed, 2)
    }

    func testDrainRatePacesTheBacklogButNotTheLiveMessages() {
        var machine = makeMachine({ $0.drainRate = 2; $0.maxInFlight = 10 })
        for _ in 0..<3 { _ = machine.spooled(bytes: 10, now: 0) }
        _ = machine.tick(now: 0, socketOpen: false)
        XCTAssertEqual(machine.connected(generation: 1, now: 10).last, .send(sequence: 0, replayed: true))
        XCTAssertEqual(machine.sent(sequence: 0, mid: 1, now: 10), [], "2 per second: the next one in 0.5 s")
        XCTAssertEqual(machine.nextTick(now: 10.1), 10.5)
        XCTAssertEqual(machine.spooled(bytes: 10, now: 10.1), [.send(sequence: 3, replayed: false)], "live messages are not paced")
        XCTAssertEqual(machine.sent(sequence: 3, mid: 2, now: 10.1), [])
        XCTAssertEqual(machine.tick(now: 10.4, socketOpen: true), [])
        XCTAssertEqual(machine.tick(now: 10.5, socketOpen: true), [.send(sequence: 1, replayed: true)])
        _ = machine.sent(sequence: 1, mid: 3, now: 10.5)
        XCTAssertEqual(machine.tick(now: 10.9, socketOpen: true), [])
        XCTAssertEqual(machine.tick(now: 11, socketOpen: true), [.send(sequence: 2, replayed: true)])
    }

    func testAMessageOlderThanItsExpiryIsDroppedAndCounted() {
        var machine = makeConnected({ $0.messageExpiry = 60 })
        _ = machine.spooled(bytes: 10, now: 1)
        _ = machine.spooled(bytes: 10, now: 1)
        XCTAssertEqual(machine.sendFailed(sequence: 0, reason: .expired(age: 75), now: 1), [
            .deleteStored(sequence: 0),
            .log(.notice, "mqtt: spooled message 0 expired (75 s old, mqtt.message_expiry 60 s): dropped; further expiries are counted in expired_messages"),
            .send(sequence: 1, replayed: false),
        ])
        XCTAssertEqual(machine.stats.expired, 1)
        XCTAssertEqual(machine.stats.spooledMessages, 1)
        XCTAssertEqual(SpoolRecord(topic: "t", qos: 1, userProperties: [], contentType: nil, payload: [], madeAt: 1000).expiry(after: 60, now: 1030.2),
                       .remaining(30), "what is left, rounded up")
        XCTAssertEqual(SpoolRecord(topic: "t", qos: 1, userProperties: [], contentType: nil, payload: [], madeAt: 1000).expiry(after: 60, now: 1060),
                       .expired(age: 60))
        XCTAssertEqual(SpoolRecord(topic: "t", qos: 1, userProperties: [], contentType: nil, payload: [], madeAt: nil).expiry(after: 60, now: 1060),
                       .remaining(60), "unknown age: as if made now")
        XCTAssertEqual(SpoolRecord(topic: "t", qos: 1, userProperties: [], contentType: nil, payload: [], madeAt: 0).expiry(after: 0, now: 1060), .none)
    }

    // MARK: client-id takeover

    /// mosquitto 2.0.11 closes a taken-over connection without a reason: three connections in
    /// a row cut within takeoverWindow of their CONNACK are taken for another client with the
    /// same id; the bridge says so, retries at the cap, and clears it once a connection lasts.
    func testConnectionsCutRightAfterConnackAreTakenForAnotherClientAndNotRetriedInALoop() {
        var machine = makeMachine(jitter: [1, 1, 1, 1, 1, 1])
        var now = 0.0
        var delays: [Double] = []
        var said: [String] = []
        for _ in 0..<4 {
            _ = machine.tick(now: now, socketOpen: false)
            _ = machine.connected(generation: machine.generation, now: now)
            let actions = machine.disconnected(generation: machine.generation, cause: .library(Self.connectionLost), now: now + 0.3)
            said += warnings(actions)
            guard case .scheduleRetry(let delay)? = actions.last else { return XCTFail("\(actions)") }
            delays.append(delay)
            now += 0.3 + delay + 0.01
        }
        XCTAssertEqual(delays, [1, 2, 8, 8], "backoff grows through the CONNACKs; at the cap once detected")
        let takeover = "another client is using client id agent-7: the broker closed 3 connections in a row within 10 s of their CONNACK; retrying every 8 s"
        XCTAssertEqual(said.filter { $0.contains("another client") }, ["mqtt: " + takeover], "said once")
        XCTAssertEqual(said.filter { $0.contains("lost") }.count, 3, "the cuts once per connection until the conflict, then once")
        XCTAssertTrue(machine.stats.clientIDConflict)
        XCTAssertEqual(machine.stats.lastError?.hasPrefix("another client is using client id agent-7: the broker closed 4 connections"), true)
        XCTAssertEqual(MQTTBridge.statusFields(machine.stats)["client_id_conflict"], .bool(true))
        // The other client went away: a connection that lasts ends it.
        _ = machine.tick(now: now, socketOpen: false)
        _ = machine.connected(generation: machine.generation, now: now)
        XCTAssertTrue(machine.stats.clientIDConflict, "not yet: the connection must last")
        XCTAssertEqual(machine.tick(now: now + 10, socketOpen: true), [.log(.notice, "mqtt: the connection as agent-7 is stable again")])
        XCTAssertFalse(machine.stats.clientIDConflict)
        XCTAssertNil(machine.stats.lastError)
        // Other early ends (a protocol error, a keepalive) are not a takeover.
        var other = makeMachine(jitter: [1, 1, 1, 1])
        for round in 0..<4 {
            let at = 100 * Double(round + 1)
            _ = other.tick(now: at, socketOpen: false)
            _ = other.connected(generation: other.generation, now: at)
            _ = other.disconnected(generation: other.generation,
                                   cause: .library(MosquittoError(kind: .protocolError, text: "A network protocol error occurred when communicating with the broker.")),
                                   now: at + 0.1)
        }
        XCTAssertEqual(other.stats.connections, 4)
        XCTAssertFalse(other.stats.clientIDConflict)
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
        _ = machine.spooled(bytes: 10, now: 0)
        _ = machine.sent(sequence: 0, mid: 1, now: 0)
        _ = machine.shutdownRequested(deadline: 5)
        XCTAssertEqual(machine.tick(now: 1, socketOpen: true), [], "still delivering")
        XCTAssertEqual(machine.nextTick(now: 4.8), 5, "woken at the deadline")
        _ = machine.published(generation: 1, mid: 1, reason: Self.success, now: 2)
        XCTAssertEqual(machine.tick(now: 2, socketOpen: true), [.disconnect(withWill: true), .exit])
        XCTAssertEqual(machine.stats.delivered, 1)
    }

    func testShutdownDeadlineLeavesTheRestInTheSpool() {
        var machine = makeConnected()
        for _ in 0..<3 { _ = machine.spooled(bytes: 10, now: 0) }
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
        _ = machine.spooled(bytes: 10, now: 0)
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
        _ = waiting.spooled(bytes: 10, now: 0)
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
