import Foundation
import XCTest
import ReferenceHarness
@testable import MQTTBridge

/// The shipped examples work as written: the ML subscriber decodes every payload format
/// (made by torch, safetensors and numpy), and the broker ACL lets each role do only its job.
final class ExampleTests: XCTestCase {
    func testExampleSubscriberLoadsEveryPayloadFormat() async throws {
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "example")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let means = try ReferenceHarness.python("mqtt_make_tensors.py", [scratch.path])
            .split(separator: "\n").map { $0.split(separator: " ") }
        XCTAssertEqual(means.count, 3)

        let broker = try TestBroker()
        let output = scratch.appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let example = Process()
        example.executableURL = URL(fileURLWithPath: ReferenceHarness.pythonPath)
        example.arguments = [ReferenceHarness.repositoryRoot.appendingPathComponent("examples/ml_subscriber.py").path,
                             "--port", String(broker.port), "--count", "4"]
        example.standardOutput = try FileHandle(forWritingTo: output)
        example.standardError = try FileHandle(forWritingTo: output)
        try example.run()
        defer { if example.isRunning { kill(example.processIdentifier, SIGKILL); example.waitUntilExit() } }
        func printed() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        XCTAssertTrue(Wait.until(20) { printed().contains("subscribed to plant/+/+") }, printed())

        let bridge = try MQTTBridge(settings: bridgeSettings(port: broker.port))
        bridge.start()
        let files = [("t.pt", TensorFormat.pt.mediaType, "fan"), ("t.safetensors", TensorFormat.safetensors.mediaType, "pump"),
                     ("t.npy", TensorFormat.npy.mediaType, "valve")]
        // A reply on plant/cmd/response matches plant/+/+ too: the example must skip it.
        bridge.reply(to: IncomingCommand(request: CommandRequest(command: .status, id: "x"),
                                         route: ReplyRoute(topic: "plant/cmd/response")),
                     CommandReply(id: "x", command: "status", ok: true))
        for (mic, (file, type, source)) in files.enumerated() {
            let bytes = [UInt8](try Data(contentsOf: scratch.appendingPathComponent(file)))
            XCTAssertTrue(bridge.publish(OutgoingMessage(
                topic: "plant/mic\(mic)/\(source)", payload: bytes,
                userProperties: [("mic", String(mic)), ("source", source), ("segment_index", String(10 + mic)),
                                 ("segment_start", "2026-11-24T20:00:0\(mic).000Z")],
                contentType: type)))
        }
        // Without a content type the example sniffs the format from the bytes.
        let sniffed = [UInt8](try Data(contentsOf: scratch.appendingPathComponent("t.pt")))
        XCTAssertTrue(bridge.publish(OutgoingMessage(topic: "plant/mic3/fan", payload: sniffed,
                                                     userProperties: [("segment_index", "13")])))
        example.waitUntilExit()
        let lines = printed().split(separator: "\n").filter { $0.hasPrefix("plant/") }
        XCTAssertEqual(lines.count, 4, printed())
        for (index, (file, _, source)) in files.enumerated() {
            let line = String(lines[index])
            let format = file.split(separator: ".").last.map(String.init) ?? ""
            XCTAssertTrue(line.hasPrefix("plant/mic\(index)/\(source) shape=(1, 240, 240) dtype=float32 format=\(format) segment=\(10 + index)"), line)
            // numpy's float32 mean and torch's sum in different orders: equal to ~1e-6.
            let printedMean = line.split(separator: "=").last.flatMap { Double($0) } ?? .nan
            XCTAssertEqual(printedMean, Double(means[index][1]) ?? 0, accuracy: 1e-4, "\(line) vs \(means[index])")
        }
        XCTAssertTrue(lines[3].contains("format=pt segment=13"), String(lines[3]))
        XCTAssertFalse(printed().contains("cmd/response"))
        await bridge.shutdown(flushWithin: 1)
    }

    func testBrokerACLExampleLetsEachRoleDoOnlyItsJob() async throws {
        let acl = ReferenceHarness.repositoryRoot.appendingPathComponent("config/mosquitto-acl.example").path
        let broker = try TestBroker(.init(users: ["agent": "a-pw", "operator": "o-pw", "ml": "m-pw"], aclFile: acl))
        let ml = try PahoSubscriber(port: broker.port, topics: ["$share/ml/plant/+/+", "plant/status"], count: 2, timeout: 20,
                                    extra: ["--username", "ml", "--password", "m-pw"])
        func pub(_ user: String, _ password: String, _ topic: String, _ payload: String) throws {
            try ReferenceHarness.run("/usr/bin/mosquitto_pub", ["-V", "5", "-p", String(broker.port), "-q", "1",
                                                                "-u", user, "-P", password, "-t", topic, "-m", payload])
        }
        // Forgeries first: an operator (and the ML user) publishing a tensor, the agent a command.
        try pub("operator", "o-pw", "plant/mic0/fan", "forged")
        try pub("ml", "m-pw", "plant/mic0/fan", "forged")

        var settings = bridgeSettings(port: broker.port)
        settings.username = "agent"
        setenv("AE_TEST_AGENT_PW", "a-pw", 1)
        settings.password = .environment("AE_TEST_AGENT_PW")
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        try pub("agent", "a-pw", "plant/cmd", #"{"command":"stop","id":"from-agent"}"#)
        try pub("ml", "m-pw", "plant/cmd", #"{"command":"stop","id":"from-ml"}"#)
        try pub("operator", "o-pw", "plant/cmd", #"{"command":"status","id":"from-operator"}"#)
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 1, bytes: 100)))

        let seen = ml.finish()
        XCTAssertEqual(seen.map(\.topic).sorted(), ["plant/mic0/fan", "plant/status"], ml.stderr)
        XCTAssertEqual(seen.first { $0.topic == "plant/mic0/fan" }?.property("segment_index"), "1", "only the agent's tensor")
        var commands = bridge.commands.makeAsyncIterator()
        let command = await commands.next()
        XCTAssertEqual(command?.request.id, "from-operator", "only the operator's command reaches the agent")
        // A topic the ACL does not give the agent: mosquitto answers the QoS 1 publish with
        // PUBACK 135, and the bridge counts the message as refused and drops it.
        XCTAssertEqual(bridge.stats.refused, 0)
        XCTAssertTrue(bridge.publish(OutgoingMessage(topic: "plant/mic0/fan/extra", payload: [1, 2, 3])))
        XCTAssertTrue(Wait.until(10) { bridge.stats.refused == 1 }, "\(bridge.stats)")
        XCTAssertEqual(bridge.stats.spooledMessages, 0, "dropped, not retried")
        XCTAssertEqual(bridge.stats.lastError?.hasSuffix("Not authorized (reason code 135)"), true, bridge.stats.lastError ?? "-")
        await bridge.shutdown(flushWithin: 1)
    }
}

import TensorFormats
import Control

/// The agent's own encoders through the bridge: what paho-mqtt receives loads with torch,
/// safetensors and numpy to exactly the values that were encoded.
final class TensorPayloadTests: XCTestCase {
    func testAgentEncodedTensorsLoadInPythonBitForBit() async throws {
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "payload")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let broker = try TestBroker()
        let saved = scratch.appendingPathComponent("saved")
        let output = scratch.appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let example = Process()
        example.executableURL = URL(fileURLWithPath: ReferenceHarness.pythonPath)
        example.arguments = [ReferenceHarness.repositoryRoot.appendingPathComponent("examples/ml_subscriber.py").path,
                             "--port", String(broker.port), "--prefix", "plant/line3/node7", "--shared", "ml",
                             "--count", "3", "--save", saved.path]
        example.standardOutput = try FileHandle(forWritingTo: output)
        example.standardError = try FileHandle(forWritingTo: output)
        try example.run()
        defer { if example.isRunning { kill(example.processIdentifier, SIGKILL); example.waitUntilExit() } }
        func printed() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        XCTAssertTrue(Wait.until(20) { printed().contains("subscribed to $share/ml/plant/line3/node7/+/+") }, printed())

        var settings = bridgeSettings(port: broker.port)
        settings.topicPrefix = "plant/line3/node7"
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        var tensors: [Tensor] = []
        for (mic, format) in TensorFormat.allCases.enumerated() {
            // A log-mel-like tensor: dB values with fractional parts, one of them -0.0.
            let values = (0..<(240 * 240)).map { i -> Float in i == 7 ? -0.0 : -80 + 80 * Float(sin(Double(i + mic) * 0.0137)).magnitude }
            let tensor = Tensor(shape: [1, 240, 240], values: values)
            tensors.append(tensor)
            let properties = [("mic", String(mic)), ("source", "fan"), ("segment_index", String(mic)),
                              ("segment_start", "2026-11-24T21:00:00.000Z"), ("sample_rate", "16000"), ("model", "none")]
            let payload = format.encode(tensor, metadata: Dictionary(uniqueKeysWithValues: properties))
            XCTAssertTrue(bridge.publish(OutgoingMessage(topic: settings.tensorTopic(mic: mic, source: "fan"), payload: payload,
                                                         userProperties: properties.map { (name: $0.0, value: $0.1) },
                                                         contentType: format.mediaType)))
        }
        example.waitUntilExit()
        let lines = printed().split(separator: "\n").filter { $0.hasPrefix("plant/") }
        XCTAssertEqual(lines.count, 3, printed())
        for (mic, format) in TensorFormat.allCases.enumerated() {
            XCTAssertTrue(lines[mic].hasPrefix("plant/line3/node7/mic\(mic)/fan shape=(1, 240, 240) dtype=float32 format=\(format) segment=\(mic)"),
                          String(lines[mic]))
            let file = saved.appendingPathComponent(String(format: "%06d_mic%d_fan.npy", mic + 1, mic))
            let back = try NPYFormat.decode([UInt8](try Data(contentsOf: file)))
            XCTAssertEqual(back.shape, [1, 240, 240])
            XCTAssertEqual(back.values.map(\.bitPattern), tensors[mic].values.map(\.bitPattern), "\(format): bit for bit")
        }
        await bridge.shutdown(flushWithin: 1)
    }
}
