import Control
import Foundation
@testable import MQTTBridge
import ReferenceHarness
import TensorFormats
import XCTest

/// Helpers shared by the real-broker tests.
enum Wait {
    /// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
    @discardableResult
    static func until(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

func bridgeSettings(port: Int, clientID: String = "agent-\(UUID().uuidString.prefix(8))") -> MQTTSettings {
    var settings = MQTTSettings()
    settings.port = port
    settings.clientID = clientID
    settings.reconnectDelay = 0.2
    settings.reconnectDelayMax = 1
    settings.statusInterval = 0
    return settings
}

func tensorMessage(mic: Int, source: String, index: Int, bytes: Int, prefix: String = "plant") -> OutgoingMessage {
    var generator = SplitMix64(seed: UInt64(index * 131 + mic * 7 + bytes))
    let payload = (0..<bytes).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    return OutgoingMessage(
        topic: "\(prefix)/mic\(mic)/\(source)", payload: payload,
        userProperties: [("mic", String(mic)), ("source", source), ("segment_start", "2026-11-24T20:00:00.000Z"),
                         ("segment_index", String(index)), ("sample_rate", "16000"), ("model", "test.safetensors")],
        contentType: TensorFormat.pt.mediaType)
}

func sha256Hex(_ bytes: [UInt8]) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
    try Data(bytes).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let output = try ReferenceHarness.run("/usr/bin/sha256sum", [file.path])
    return String(output.prefix(64))
}

/// Publishing, properties, status and commands against a real mosquitto, seen by paho-mqtt.
final class BrokerTests: XCTestCase {
    func testTensorsArriveInOrderWithV5PropertiesAndRetainedStatus() async throws {
        let broker = try TestBroker()
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 6)
        let bridge = try MQTTBridge(settings: bridgeSettings(port: broker.port))
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected }, "published live (before the first CONNACK they would go out replayed)")
        var sent: [OutgoingMessage] = []
        for index in 0..<3 {
            for (mic, source) in [(0, "fan"), (1, "pump")] {
                // 1 x 240 x 240 float32 is 230,400 bytes; a .pt adds ~1 kB.
                let message = tensorMessage(mic: mic, source: source, index: index, bytes: index == 1 ? 231_437 : 1000 + index)
                XCTAssertTrue(bridge.publish(message))
                sent.append(message)
            }
        }
        let received = subscriber.finish()
        XCTAssertEqual(received.count, 6, subscriber.stderr)
        for (message, got) in zip(sent, received) {
            XCTAssertEqual(got.topic, message.topic)
            XCTAssertEqual(got.length, message.payload.count)
            XCTAssertEqual(got.sha256, try sha256Hex(message.payload), "payload bit for bit")
            XCTAssertEqual(got.qos, 1)
            XCTAssertFalse(got.retain)
            XCTAssertEqual(got.content_type, "application/x-pytorch")
            XCTAssertEqual(got.user_properties, message.userProperties.map { [$0.name, $0.value] })
        }
        XCTAssertTrue(Wait.until(5) { bridge.stats.delivered == 6 && bridge.stats.spooledMessages == 0 })

        // The retained status is there for a late subscriber.
        let statusReader = try PahoSubscriber(port: broker.port, topics: ["plant/status"], count: 1, timeout: 10)
        let status = statusReader.finish()
        XCTAssertEqual(status.first?.retain, true)
        XCTAssertEqual(status.first?.content_type, "application/json")
        XCTAssertTrue(status.first?.payloadText?.contains(#""state":"online""#) ?? false, status.first?.payloadText ?? "none")

        // Clean shutdown: the broker publishes the will, the status turns offline.
        let afterShutdown = try PahoSubscriber(port: broker.port, topics: ["plant/status"], count: 2, timeout: 10)
        let final = await bridge.shutdown(flushWithin: 2)
        XCTAssertEqual(final.delivered, 6)
        XCTAssertFalse(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 9, bytes: 1)), "shut down")
        let statuses = afterShutdown.finish()
        XCTAssertEqual(statuses.last?.payloadText, MQTTBridge.offlineStatus)
    }

    func testStatusRepublishedOnChangeWithAgentDocument() async throws {
        let broker = try TestBroker()
        var settings = bridgeSettings(port: broker.port)
        settings.topicPrefix = "plant/line3/node7"
        let counter = Counter()
        let bridge = try MQTTBridge(settings: settings) { stats in
            #"{"state":"running","segments":\#(counter.next()),"spooled":\#(stats.spooledMessages)}"#
        }
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        let reader = try PahoSubscriber(port: broker.port, topics: ["plant/line3/node7/status"], count: 2, timeout: 10)
        bridge.publishStatus()
        let got = reader.finish().compactMap(\.payloadText)
        XCTAssertEqual(got, [#"{"state":"running","segments":1,"spooled":0}"#,
                             #"{"state":"running","segments":2,"spooled":0}"#],
                       "retained copy first, then the refreshed one")
        await bridge.shutdown(flushWithin: 1)
    }

    /// A broker restarted without persistence forgets the retained status; the bridge
    /// publishes it again when it reconnects: the outage is over, so it is no longer the last
    /// error but one of the recent ones, with when it began and ended.
    func testStatusRepublishedAfterReconnect() async throws {
        let broker = try TestBroker()
        let bridge = try MQTTBridge(settings: bridgeSettings(port: broker.port))
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        broker.stop()
        XCTAssertTrue(Wait.until(10) { !bridge.stats.connected })
        try broker.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        let status = try PahoSubscriber(port: broker.port, topics: ["plant/status"], count: 1, timeout: 10).finish()
        XCTAssertEqual(status.first?.retain, true)
        let text = status.first?.payloadText ?? ""
        XCTAssertTrue(text.contains(#""state":"online""#), text)
        XCTAssertFalse(text.contains(#""last_error":"#), "recovered: \(text)")
        guard case .object(let document)? = JSONValue.parse(Array(text.utf8)),
              case .array(let recent)? = document["recent_errors"], case .object(let outage)? = recent.last else {
            return XCTFail(text)
        }
        XCTAssertNotNil(outage["at"])
        XCTAssertNotNil(outage["cleared_at"])
        XCTAssertEqual(bridge.stats.connections, 2)
        XCTAssertNil(bridge.stats.lastError)
        await bridge.shutdown(flushWithin: 1)
    }

    func testCommandsParsedRepliedAndRefused() async throws {
        let broker = try TestBroker()
        let bridge = try MQTTBridge(settings: bridgeSettings(port: broker.port))
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        let replies = try PahoSubscriber(port: broker.port, topics: ["plant/cmd/response", "ops/reply/+"], count: 7, timeout: 20)
        let agentTopics = try PahoSubscriber(port: broker.port, topics: ["plant/mic0/+", "plant/status"], count: 1000, timeout: 30)
        let mosquittoPub = "/usr/bin/mosquitto_pub"
        func send(_ payload: String, _ extra: [String] = []) throws {
            try ReferenceHarness.run(mosquittoPub, ["-V", "5", "-p", String(broker.port), "-q", "1",
                                                    "-t", "plant/cmd", "-m", payload] + extra)
        }
        // A retained command must not run (it would run again at each reconnect).
        try send(#"{"command":"stop","id":"retained"}"#, ["-r"])
        try send(#"{"command":"status","id":"s1"}"#)
        try send("{not json")
        try send(#"{"command":"explode","id":"e1"}"#)
        try send(#"{"command":"calibrate","seconds":"ten","id":"c1"}"#)
        try send(#"{"command":"calibrate","seconds":3,"id":"c2"}"#,
                 ["-D", "publish", "response-topic", "ops/reply/7", "-D", "publish", "correlation-data", "req-42"])
        // A response topic that is one of the agent's own (a tensor topic): refused, answered
        // on the default topic, never published to. mosquitto itself refuses a wildcard there.
        try send(#"{"command":"stop","id":"t1"}"#, ["-D", "publish", "response-topic", "plant/mic0/mix"])
        try send(#"{"command":"status","id":"t2"}"#, ["-D", "publish", "response-topic", "plant/status"])
        // Clear the retained command for good measure.
        try ReferenceHarness.run(mosquittoPub, ["-p", String(broker.port), "-t", "plant/cmd", "-r", "-n"])

        var iterator = bridge.commands.makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first?.request, CommandRequest(command: .status, id: "s1"))
        let second = await iterator.next()
        XCTAssertEqual(second?.request, CommandRequest(command: .calibrate(seconds: 3), id: "c2"))
        XCTAssertEqual(second?.route, ReplyRoute(topic: "ops/reply/7", correlationData: Array("req-42".utf8)))
        if let first { bridge.reply(to: first, CommandReply(id: "s1", command: "status", ok: true, result: ["state": .string("running")])) }
        if let second { bridge.reply(to: second, CommandReply(id: "c2", command: "calibrate", ok: true)) }

        let got = replies.finish()
        XCTAssertEqual(got.count, 7, replies.stderr)
        let byID = Dictionary(got.compactMap { r -> (String, Received)? in
            guard let text = r.payloadText, case .object(let o)? = JSONValue.parse(Array(text.utf8)) else { return nil }
            if case .string(let id)? = o["id"] { return (id, r) }
            return ("null", r)
        }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byID["null"]?.payloadText, #"{"error":"malformed JSON","id":null,"ok":false}"#)
        XCTAssertEqual(byID["e1"]?.payloadText, #"{"error":"unknown command \"explode\"","id":"e1","ok":false}"#)
        XCTAssertEqual(byID["c1"]?.payloadText, #"{"command":"calibrate","error":"\"seconds\" must be a number","id":"c1","ok":false}"#)
        XCTAssertEqual(byID["s1"]?.payloadText, #"{"command":"status","id":"s1","ok":true,"state":"running"}"#)
        XCTAssertEqual(byID["s1"]?.topic, "plant/cmd/response")
        XCTAssertEqual(byID["c2"]?.topic, "ops/reply/7", "v5 response topic honoured")
        XCTAssertEqual(byID["c2"]?.correlation_data_hex, Array("req-42".utf8).map { String(format: "%02x", $0) }.joined())
        XCTAssertNil(byID["retained"], "retained command ignored")
        XCTAssertEqual(byID["t1"]?.topic, "plant/cmd/response")
        XCTAssertEqual(byID["t1"]?.payloadText,
                       #"{"command":"stop","error":"response topic refused: 'plant/mic0/mix' is one of the agent's own topics; replies go to plant/cmd/response[/...] or outside plant/","id":"t1","ok":false}"#)
        XCTAssertEqual(byID["t2"]?.topic, "plant/cmd/response")
        XCTAssertEqual(bridge.stats.refusedCommands, 5, "malformed, unknown, wrong type, two response topics")
        XCTAssertNil(bridge.stats.lastError, "a refused command is not the agent's error")
        usleep(300_000)
        agentTopics.kill()
        XCTAssertEqual(agentTopics.received.filter { $0.topic == "plant/mic0/mix" }.count, 0, "nothing on the tensor topic")
        XCTAssertFalse(agentTopics.received.contains { $0.topic == "plant/status" && !$0.retain && ($0.payloadText ?? "").contains("t2") },
                       "no reply on the status topic")
        await bridge.shutdown(flushWithin: 1)
    }

    func testSharedSubscriptionSplitsTheLoadBetweenTwoConsumers() async throws {
        let broker = try TestBroker()
        let one = try PahoSubscriber(port: broker.port, topics: ["$share/ml/plant/+/+"], count: 1000, timeout: 30)
        let two = try PahoSubscriber(port: broker.port, topics: ["$share/ml/plant/+/+"], count: 1000, timeout: 30)
        let bridge = try MQTTBridge(settings: bridgeSettings(port: broker.port))
        bridge.start()
        let total = 40
        for index in 0..<total {
            XCTAssertTrue(bridge.publish(tensorMessage(mic: index % 2, source: "fan", index: index, bytes: 100)))
        }
        XCTAssertTrue(Wait.until(20) { one.received.count + two.received.count >= total })
        usleep(300_000)
        one.kill()
        two.kill()
        let a = one.received.compactMap { $0.property("segment_index") }
        let b = two.received.compactMap { $0.property("segment_index") }
        XCTAssertEqual(a.count + b.count, total, "each message to exactly one consumer")
        XCTAssertEqual(Set(a + b), Set((0..<total).map(String.init)))
        XCTAssertTrue(Set(a).isDisjoint(with: b))
        XCTAssertGreaterThan(a.count, 0, "both consumers get work")
        XCTAssertGreaterThan(b.count, 0, "both consumers get work")
        await bridge.shutdown(flushWithin: 1)
    }
}

/// A thread-safe counter for status documents.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
