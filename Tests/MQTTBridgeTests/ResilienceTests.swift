import Foundation
import Logging
import Synchronization
import XCTest
import ReferenceHarness
@testable import MQTTBridge

/// A log handler that keeps every line, to check what the bridge says (and never says).
struct CollectingLogHandler: LogHandler {
    static let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        Self.lines.withLock { $0.append("\(event.level) \(event.message)") }
    }
}

/// Failure, recovery and loss-free delivery against a real mosquitto.
final class ResilienceTests: XCTestCase {
    /// The `mqtt-probe` executable built beside the test bundle.
    private var probePath: String {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("mqtt-probe").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    func testLastWillOnKillNine() throws {
        let broker = try TestBroker()
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "probe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: probePath)
        probe.arguments = ["--port", String(broker.port), "--prefix", "plant/line1", "--hold"]
        probe.standardOutput = try FileHandle(forWritingTo: output)
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        defer { if probe.isRunning { kill(probe.processIdentifier, SIGKILL); probe.waitUntilExit() } }
        XCTAssertTrue(Wait.until(15) { ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("connected") },
                      "probe did not connect (\(probePath))")
        let status = try PahoSubscriber(port: broker.port, topics: ["plant/line1/status"], count: 2, timeout: 15)
        XCTAssertTrue(Wait.until(10) { status.received.count == 1 })
        XCTAssertTrue(status.received.first?.payloadText?.contains(#""state":"online""#) ?? false)
        kill(probe.processIdentifier, SIGKILL)
        probe.waitUntilExit()
        let got = status.finish()
        XCTAssertEqual(got.count, 2, status.stderr)
        XCTAssertEqual(got.last?.payloadText, #"{"state":"offline"}"#, "the broker published the last will")
        // And it stays: a newcomer reads the retained offline status.
        let late = try PahoSubscriber(port: broker.port, topics: ["plant/line1/status"], count: 1, timeout: 10).finish()
        XCTAssertEqual(late.first?.payloadText, #"{"state":"offline"}"#)
        XCTAssertEqual(late.first?.retain, true)
    }

    func testWrongPasswordIsReportedRetriedAndRecoveredWithoutLoggingIt() async throws {
        let broker = try TestBroker(.init(users: ["agent": "right-horse-battery", "ml": "ml-pass"]))
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "pw")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let passwordFile = scratch.appendingPathComponent("password")
        let wrong = "wrong-secret-4711"
        try (wrong + "\n").write(to: passwordFile, atomically: true, encoding: .utf8)
        var settings = bridgeSettings(port: broker.port)
        settings.username = "agent"
        settings.password = .file(passwordFile.path)
        let logger = Logger(label: "test") { _ in CollectingLogHandler() }
        let bridge = try MQTTBridge(settings: settings, logger: logger)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.attempts >= 3 }, "it keeps retrying")
        let stats = bridge.stats
        XCTAssertFalse(stats.connected)
        XCTAssertEqual(stats.connections, 0)
        XCTAssertEqual(stats.lastError, "broker 127.0.0.1:\(broker.port) refused the connection: Not authorized (reason code 135); check mqtt.username and the password source")
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 0, bytes: 10)), "spooled meanwhile")

        // The operator fixes the password file; the next attempt reads it again.
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 1, timeout: 20,
                                            extra: ["--username", "ml", "--password", "ml-pass"])
        try "right-horse-battery\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        XCTAssertEqual(subscriber.finish().first?.property("segment_index"), "0")
        await bridge.shutdown(flushWithin: 1)
        let lines = CollectingLogHandler.lines.withLock { $0 }
        // mosquitto 2.0.11 answers a wrong password with CONNACK 135 (not 134).
        XCTAssertTrue(lines.contains { $0.contains("Not authorized (reason code 135)") }, "the error is logged")
        XCTAssertFalse(lines.contains { $0.contains(wrong) || $0.contains("right-horse") }, "the password never is")
    }

    func testTLSWithTestCAAndClientCertificate() async throws {
        let pki = try ReferenceHarness.makeScratchFolder(prefix: "pki")
        defer { try? FileManager.default.removeItem(at: pki) }
        func path(_ name: String) -> String { pki.appendingPathComponent(name).path }
        let openssl = "/usr/bin/openssl"
        func makeCA(_ name: String) throws {
            try ReferenceHarness.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                               "-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).pem")])
        }
        func issue(_ name: String, by ca: String, extensions: String) throws {
            try ReferenceHarness.run(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)",
                                               "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try ReferenceHarness.run(openssl, ["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"),
                                               "-CAkey", path("\(ca).key"), "-CAcreateserial", "-days", "2",
                                               "-extfile", path("\(name).ext"), "-out", path("\(name).pem")])
        }
        try makeCA("test-ca")
        try makeCA("other-ca")
        try issue("broker", by: "test-ca", extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        try issue("agent", by: "test-ca", extensions: "extendedKeyUsage=clientAuth\n")

        var options = TestBroker.Options()
        options.tls = (path("test-ca.pem"), path("broker.pem"), path("broker.key"))
        options.requireClientCertificate = true
        let broker = try TestBroker(options)
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 1, timeout: 20,
                                            extra: ["--ca", path("test-ca.pem"), "--cert", path("agent.pem"), "--key", path("agent.key")])
        var settings = bridgeSettings(port: broker.port)
        settings.tls = .init(caFile: path("test-ca.pem"), certificateFile: path("agent.pem"), keyFile: path("agent.key"))
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        let message = tensorMessage(mic: 2, source: "valve", index: 5, bytes: 5000)
        XCTAssertTrue(bridge.publish(message))
        let got = subscriber.finish()
        XCTAssertEqual(got.first?.topic, "plant/mic2/valve", subscriber.stderr)
        XCTAssertEqual(got.first?.sha256, try sha256Hex(message.payload))
        await bridge.shutdown(flushWithin: 1)

        // A CA that did not sign the broker's certificate: refused, said clearly, retried.
        settings.clientID += "-b"
        settings.tls = .init(caFile: path("other-ca.pem"), certificateFile: path("agent.pem"), keyFile: path("agent.key"))
        settings.connectTimeout = 3
        let refused = try MQTTBridge(settings: settings)
        refused.start()
        XCTAssertTrue(Wait.until(15) { refused.stats.attempts >= 2 && refused.stats.lastError != nil })
        XCTAssertFalse(refused.stats.connected)
        let error = refused.stats.lastError ?? ""
        XCTAssertTrue(error.contains("TLS") || error.contains("CONNACK"), error)
        await refused.shutdown(flushWithin: 0)

        // A missing CA file is named.
        settings.tls = .init(caFile: path("missing.pem"))
        let missing = try MQTTBridge(settings: settings)
        missing.start()
        XCTAssertTrue(Wait.until(5) { missing.stats.lastError != nil })
        XCTAssertEqual(missing.stats.lastError, "mqtt.tls.ca_file: cannot read '\(path("missing.pem"))'")
        await missing.shutdown(flushWithin: 0)
    }

    /// Full spool while the broker is down drops the oldest; a restart of the agent resumes
    /// the spool from disk and delivers the rest in order.
    func testSpoolBoundedThenResumedAfterRestart() async throws {
        let broker = try TestBroker()
        broker.stop()
        let spool = try ReferenceHarness.makeScratchFolder(prefix: "spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        var settings = bridgeSettings(port: broker.port)
        settings.spoolDirectory = spool.path
        settings.spoolLimitBytes = 20_000
        let first = try MQTTBridge(settings: settings)
        first.start()
        for index in 0..<30 { XCTAssertTrue(first.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: 1000))) }
        XCTAssertTrue(Wait.until(10) { let s = first.stats; return s.spooledMessages + s.dropped == 30 })
        let beforeStop = await first.shutdown(flushWithin: 0)
        XCTAssertGreaterThan(beforeStop.dropped, 0)
        XCTAssertLessThanOrEqual(beforeStop.spooledBytes, 20_000)
        let files = try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".msg") }
        XCTAssertEqual(files.count, beforeStop.spooledMessages, "one file per spooled message")
        let kept = beforeStop.spooledMessages

        try broker.start()
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: kept, timeout: 20)
        let second = try MQTTBridge(settings: settings)
        second.start()
        let got = subscriber.finish().compactMap { $0.property("segment_index") }.compactMap(Int.init)
        XCTAssertEqual(got, Array((30 - kept)..<30), "the newest kept, in order")
        XCTAssertTrue(Wait.until(5) { second.stats.spooledMessages == 0 })
        let left = try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".msg") }
        XCTAssertEqual(left, [], "deleted after PUBACK")
        await second.shutdown(flushWithin: 1)
    }

    /// The broker goes away for `AE_MQTT_OUTAGE_SECONDS` (60 by default; stopped and restarted
    /// on the same port, with its persistence, so nothing the broker acknowledged is lost on its
    /// side) while the agent keeps making "segments" of 8 full-size tensors (231 kB) a second.
    /// Then: nothing lost, the backlog in order and marked replayed, the birth before it, and
    /// every live tensor made during the drain arrives within one segment of being made. The
    /// backlog is paced (`AE_MQTT_DRAIN_RATE`, 50 messages/s by default; 0 = unlimited, which
    /// drains ~500 tensors in about 2 s here) so that many live tensors are made during the drain.
    func testBrokerOutageLosesNothingAndLiveTensorsOvertakeTheBacklog() async throws {
        let outage = Double(ProcessInfo.processInfo.environment["AE_MQTT_OUTAGE_SECONDS"] ?? "") ?? 60
        let segmentSeconds = 1.0, tensorsPerSegment = 8, bytes = 231_437
        let broker = try TestBroker(.init(persistence: true))
        let spool = try ReferenceHarness.makeScratchFolder(prefix: "spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/meta", "plant/+/+"], count: 1_000_000,
                                            timeout: outage + 240,
                                            clientID: "ml-consumer-\(UUID().uuidString.prefix(6))", persistentSession: true)
        var settings = bridgeSettings(port: broker.port)
        settings.spoolDirectory = spool.path
        settings.reconnectDelayMax = 2
        settings.drainRate = Double(ProcessInfo.processInfo.environment["AE_MQTT_DRAIN_RATE"] ?? "") ?? 50
        let births = Counter()
        let bridge = try MQTTBridge(settings: settings, birth: { #"{"birth":\#(births.next())}"# })
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })

        // Segments: before (3 s), the outage, then until the backlog has drained plus 3 s.
        var madeAt: [Int: Double] = [:]
        let start = Date()
        var stoppedAt: Double?, restartedAt: Double?, drainedAt: Double?
        var maxSpooled = 0
        var segment = 0
        while true {
            let due = start.addingTimeInterval(Double(segment) * segmentSeconds)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
            let elapsed = Date().timeIntervalSince(start)
            if stoppedAt == nil, elapsed >= 3 { broker.stop(); stoppedAt = Date().timeIntervalSince1970 }
            if stoppedAt != nil, restartedAt == nil, elapsed >= 3 + outage {
                try broker.start()
                restartedAt = Date().timeIntervalSince1970
            }
            if restartedAt != nil, drainedAt == nil, bridge.stats.connected, bridge.stats.backlog == 0, bridge.stats.inFlight == 0 {
                drainedAt = Date().timeIntervalSince1970
            }
            if let drainedAt, Date().timeIntervalSince1970 > drainedAt + 3 { break }
            if elapsed > 3 + outage + 180 { XCTFail("the backlog did not drain in 180 s: \(bridge.stats)"); break }
            for k in 0..<tensorsPerSegment {
                let index = segment * tensorsPerSegment + k
                let message = tensorMessage(mic: k / 2, source: k % 2 == 0 ? "fan" : "pump", index: index, bytes: bytes)
                madeAt[index] = Date().timeIntervalSince1970
                XCTAssertTrue(bridge.publish(message))
            }
            maxSpooled = max(maxSpooled, bridge.stats.spooledMessages)
            segment += 1
        }
        let total = segment * tensorsPerSegment
        func indices() -> Set<Int> { Set(subscriber.received.compactMap { $0.property("segment_index").flatMap(Int.init) }) }
        Wait.until(30) { indices().count >= total }
        usleep(500_000)   // late duplicates, if any
        subscriber.kill()
        let received = subscriber.received
        var firstArrival: [Int: Received] = [:]
        var duplicates = 0
        for message in received {
            guard let index = message.property("segment_index").flatMap(Int.init) else { continue }
            if firstArrival[index] == nil { firstArrival[index] = message } else { duplicates += 1 }
        }
        let lost = (0..<total).filter { firstArrival[$0] == nil }
        XCTAssertEqual(lost, [], "nothing lost")
        let replayed = received.filter { $0.property("replayed") == "true" }
        let replayedOrder = replayed.compactMap { $0.property("segment_index").flatMap(Int.init) }
        var seenReplayed = Set<Int>()
        let replayedFirst = replayedOrder.filter { seenReplayed.insert($0).inserted }
        XCTAssertEqual(replayedFirst, replayedFirst.sorted(), "the backlog drains in order")
        XCTAssertGreaterThan(replayedFirst.count, Int(outage / segmentSeconds) * tensorsPerSegment / 2, "the outage's tensors waited")
        // The birth after the restart comes before the backlog.
        let topics = received.map { $0.topic == "plant/meta" ? "meta" : ($0.property("replayed") ?? "live") }
        let firstReplayed = topics.firstIndex(of: "true") ?? 0
        XCTAssertTrue(topics[..<firstReplayed].filter { $0 == "meta" }.count >= 2, "a birth at each connection, before the backlog")
        // Live tensors made while the backlog drained: arrival - making.
        guard let restartedAt, let drainEnd = replayed.compactMap(\.received_at).max() else { return XCTFail("no drain") }
        let liveDuringDrain = (0..<total).compactMap { index -> Double? in
            guard let made = madeAt[index], made >= restartedAt, made <= drainEnd, let got = firstArrival[index],
                  got.property("replayed") == nil, let at = got.received_at else { return nil }
            return at - made
        }
        let worst = liveDuringDrain.max() ?? 0
        let median = liveDuringDrain.sorted()[liveDuringDrain.count / 2]
        XCTAssertFalse(liveDuringDrain.isEmpty, "live tensors were made during the drain")
        XCTAssertLessThan(worst, segmentSeconds, "every live tensor within one segment of being made")
        let stats = await bridge.shutdown(flushWithin: 5)
        XCTAssertEqual(stats.dropped + stats.lost, 0)
        XCTAssertGreaterThanOrEqual(stats.connections, 2, "reconnected")
        print(String(format: "outage %.0f s (8 x 231 kB per 1-s segment, drain_rate %.0f/s): %d tensors, lost %d, duplicates %d, max spooled %d; "
                     + "backlog of %d drained in %.1f s after the restart; live latency during the drain: median %.3f s, max %.3f s "
                     + "(%d live tensors); attempts %d",
                     outage, settings.drainRate, total, lost.count, duplicates, maxSpooled, replayedFirst.count, drainEnd - restartedAt,
                     median, worst, liveDuringDrain.count, stats.attempts))
    }
}

/// The supervisor gets out of the states libmosquitto 2.0.11 does not recover from itself.
final class SupervisionTests: XCTestCase {
    /// A broker that never answers, then one that answers garbage (the loop thread exits for
    /// good), then a real one: the bridge makes new clients until it is connected, and the
    /// message published meanwhile arrives.
    func testSilentAndBrokenBrokersThenRecovery() async throws {
        let broker = try TestBroker(start: false)
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "fake")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var settings = bridgeSettings(port: broker.port)
        settings.connectTimeout = 0.5
        settings.reconnectDelayMax = 0.3
        settings.clientID = "supervised-\(UUID().uuidString.prefix(8))"
        let logger = Logger(label: "test") { _ in CollectingLogHandler() }
        let bridge = try MQTTBridge(settings: settings, logger: logger)
        bridge.start()
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 77, bytes: 64)))

        let silent = scratch.appendingPathComponent("silent").path
        try ReferenceHarness.python("mqtt_fake_broker.py", [String(broker.port), "3", "silent", silent])
        let lines = CollectingLogHandler.lines.withLock { $0 }
        XCTAssertTrue(lines.contains { $0.contains("no CONNACK from 127.0.0.1:\(broker.port) within 0.5 s") }, "\(lines.suffix(5))")
        let garbage = scratch.appendingPathComponent("garbage").path
        try ReferenceHarness.python("mqtt_fake_broker.py", [String(broker.port), "3", "garbage", garbage])
        let afterGarbage = bridge.stats
        XCTAssertFalse(afterGarbage.connected)
        // Connected, then the loop thread dies of a protocol error.
        let midway = scratch.appendingPathComponent("midway").path
        try ReferenceHarness.python("mqtt_fake_broker.py", [String(broker.port), "3", "connack-garbage", midway])
        let midwayConnections = Int(try String(contentsOfFile: midway, encoding: .utf8)) ?? 0
        XCTAssertGreaterThanOrEqual(midwayConnections, 2, "a new client after the loop thread died while connected")
        XCTAssertGreaterThanOrEqual(bridge.stats.connections, 2)
        XCTAssertFalse(bridge.stats.connected)
        let silentConnections = Int(try String(contentsOfFile: silent, encoding: .utf8)) ?? 0
        let garbageConnections = Int(try String(contentsOfFile: garbage, encoding: .utf8)) ?? 0
        XCTAssertGreaterThanOrEqual(silentConnections, 2, "a new client after each CONNACK timeout")
        XCTAssertGreaterThanOrEqual(garbageConnections, 2, "a new client after each protocol error")
        print("silent broker: \(silentConnections) connections; garbage broker: \(garbageConnections); connack-then-garbage: \(midwayConnections); last error: \(bridge.stats.lastError ?? "-")")

        let subscriber = try { () throws -> PahoSubscriber in
            try broker.start()
            return try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 1, timeout: 20)
        }()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        // Published before the subscriber existed? Then send one more to prove the link.
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 78, bytes: 64)))
        let got = subscriber.finish()
        XCTAssertFalse(got.isEmpty, subscriber.stderr)
        let stats = await bridge.shutdown(flushWithin: 2)
        XCTAssertEqual(stats.delivered, 2, "the message spooled during the bad brokers went out too")
        XCTAssertGreaterThanOrEqual(stats.connections, 3)
    }

    func testPublishNeverBlocksAndRefusesWhenTheQueueIsFull() async throws {
        var settings = MQTTSettings()
        settings.port = try TestBroker.freePort()   // nothing listens there
        settings.queueCapacity = 3
        let bridge = try MQTTBridge(settings: settings)   // not started: nobody drains the queue
        for index in 0..<3 { XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: 8))) }
        XCTAssertFalse(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 3, bytes: 8)))
        XCTAssertFalse(bridge.publish(OutgoingMessage(topic: "plant/+/fan", payload: [1])))
        XCTAssertFalse(bridge.publish(OutgoingMessage(topic: "plant/mic0/fan", payload: [1], qos: 3)))
        XCTAssertEqual(bridge.stats.rejected, 3)
        XCTAssertEqual(bridge.stats.lastError, "publish refused: mqtt.qos: 3 is not 0, 1 or 2")
        let started = Date()
        let waited = await bridge.publish(tensorMessage(mic: 0, source: "fan", index: 4, bytes: 8), waitingUpTo: 0.2)
        XCTAssertFalse(waited, "still full: nobody drains a bridge that was not started")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.2)
        bridge.start()   // no broker on 1883 needed: the thread spools the queue
        let accepted = await bridge.publish(tensorMessage(mic: 0, source: "fan", index: 5, bytes: 8), waitingUpTo: 5)
        XCTAssertTrue(accepted, "room made by the bridge's thread")
        XCTAssertTrue(Wait.until(5) { bridge.stats.spooledMessages == 4 })
        await bridge.shutdown(flushWithin: 0)
        XCTAssertThrowsError(try MQTTBridge(settings: { var s = MQTTSettings(); s.spoolDirectory = "/proc/nope"; return s }())) {
            XCTAssertTrue("\($0)".hasPrefix("mqtt spool: cannot create folder '/proc/nope'"), "\($0)")
        }
    }
}

/// Crash safety and speed of the disk spool.
final class SpoolOnDiskTests: XCTestCase {
    private var probePath: String {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("mqtt-probe").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// An agent killed -9 with a full spool (broker down) loses nothing: the next start sends
    /// every message, in order.
    func testSpoolSurvivesKillNine() async throws {
        let broker = try TestBroker(start: false)
        let spool = try ReferenceHarness.makeScratchFolder(prefix: "spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let output = spool.appendingPathExtension("out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: probePath)
        probe.arguments = ["--port", String(broker.port), "--spool", spool.path, "--publish", "40",
                           "--bytes", "50000", "--no-wait", "--hold"]
        probe.standardOutput = try FileHandle(forWritingTo: output)
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        XCTAssertTrue(Wait.until(20) { ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("spooled 40") })
        kill(probe.processIdentifier, SIGKILL)
        probe.waitUntilExit()
        let files = try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".msg") }
        XCTAssertEqual(files.count, 40)

        try broker.start()
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/mic0/probe"], count: 40, timeout: 30)
        var settings = bridgeSettings(port: broker.port)
        settings.spoolDirectory = spool.path
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        let got = subscriber.finish()
        XCTAssertEqual(got.compactMap { $0.property("seq") }, (0..<40).map(String.init))
        XCTAssertTrue(got.allSatisfy { $0.length == 50000 })
        await bridge.shutdown(flushWithin: 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".msg") }, [])
    }

    /// Full-size tensors (1x240x240 float32 as .pt, 231 kB) through the disk spool to a
    /// subscriber: every one, in order (the rate is printed: the agent needs 4 mics x 4
    /// sources per 10 s = 1.6/s).
    func testThroughputOfFullSizeTensors() async throws {
        let broker = try TestBroker()
        let spool = try ReferenceHarness.makeScratchFolder(prefix: "spool")
        defer { try? FileManager.default.removeItem(at: spool) }
        let count = 200
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: count, timeout: 120)
        var settings = bridgeSettings(port: broker.port)
        settings.spoolDirectory = spool.path
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        let messages = (0..<count).map { tensorMessage(mic: $0 % 4, source: "fan", index: $0, bytes: 231_437) }
        let start = Date()
        for message in messages {
            while !bridge.publish(message) { usleep(1_000) }
        }
        XCTAssertTrue(Wait.until(120) { bridge.stats.delivered == count })
        let seconds = Date().timeIntervalSince(start)
        let got = subscriber.finish()
        XCTAssertEqual(got.compactMap { $0.property("segment_index").flatMap(Int.init) }, Array(0..<count), "everything, in order")
        XCTAssertEqual(got.map(\.length), Array(repeating: 231_437, count: count))
        // A figure, not an assertion: the speed belongs to a benchmark on an idle machine.
        let rate = Double(count) / seconds
        print(String(format: "throughput: %d x 231 kB through the disk spool in %.2f s = %.0f messages/s (%.0f MB/s)",
                     count, seconds, rate, rate * 0.231437))
        await bridge.shutdown(flushWithin: 1)
    }
}
