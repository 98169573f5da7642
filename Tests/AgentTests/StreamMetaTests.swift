import Configuration
import Control
import Foundation
import Logging
import MQTTBridge
import Pipeline
import ReferenceHarness
import TensorFormats
import XCTest
@testable import Agent

/// The birth document's content and its sequence number across starts. That the bridge
/// publishes it retained before the first tensor is tested against mosquitto in
/// MQTTBridgeTests.ReplayTests and, with the agent, in Tests/python/test_agent_run.py.
final class StreamMetaTests: XCTestCase {
    func testBirthSequenceGrowsAtEveryStartAndSurvivesInTheSpoolFolder() throws {
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "meta")
        defer { try? FileManager.default.removeItem(at: folder) }
        let spool = folder.appendingPathComponent("spool").path
        let logger = Logger(label: "test")
        XCTAssertEqual(StreamMeta.nextBirthSequence(folder: spool, logger: logger), 0, "first start, folder made")
        XCTAssertEqual(StreamMeta.nextBirthSequence(folder: spool, logger: logger), 1)
        XCTAssertEqual(StreamMeta.nextBirthSequence(folder: spool, logger: logger), 2)
        XCTAssertEqual(try String(contentsOfFile: spool + "/birth_seq", encoding: .utf8), "2\n")
        try "garbage".write(toFile: spool + "/birth_seq", atomically: true, encoding: .utf8)
        XCTAssertEqual(StreamMeta.nextBirthSequence(folder: spool, logger: logger), 0, "unreadable: start again, said in the log")
        XCTAssertEqual(StreamMeta.nextBirthSequence(folder: "/proc/no-such/spool", logger: logger), 0,
                       "a folder that cannot keep it does not stop the agent")
    }

    func testTheDocumentDescribesTheStreamAConsumerReceives() throws {
        var config = AgentConfig()
        config.capture.segmentSeconds = 2
        config.mqtt.payload = .safetensors
        config.mqtt.payloadDType = .float16
        config.mqtt.topicPrefix = "plant/line3"
        config.denoise.enabled = false
        let setup = try PipelineSetup(settings: PipelineSettings(config: config), channels: 3, inputName: "test")
        let meta = StreamMeta(birthSequence: 7)
        let settings = MQTTSettings(config: config.mqtt)
        XCTAssertNil(meta.document(config: config, setup: nil, settings: settings), "nothing to describe before the capture starts")
        let text = try XCTUnwrap(meta.document(config: config, setup: setup, settings: settings))
        guard case .object(let doc)? = JSONValue.parse(Array(text.utf8)) else { return XCTFail(text) }
        XCTAssertEqual(doc["version"], .string(AgentVersion.current))
        XCTAssertEqual(doc["birth_seq"], .number(7))
        XCTAssertEqual(doc["shape"], .array([.number(1), .number(240), .number(240)]))
        XCTAssertEqual(doc["dtype"], .string("float16"))
        XCTAssertEqual(doc["payload"], .string("safetensors"))
        XCTAssertEqual(doc["content_type"], .string("application/x-safetensors"))
        XCTAssertEqual(doc["sample_rate"], .number(16000))
        XCTAssertEqual(doc["segment_seconds"], .number(2))
        XCTAssertEqual(doc["sources"], .array([.string("mix")]))
        XCTAssertEqual(doc["model"], .null)
        guard case .object(let mel)? = doc["mel"], case .array(let mics)? = doc["microphones"] else { return XCTFail(text) }
        XCTAssertEqual(mel["hop"], .number(Double(32000 / 239)), "N // (frames - 1), as the mel stage computes it")
        XCTAssertEqual(mel["n_fft"], .number(2048))
        XCTAssertEqual(mel["mel_scale"], .string("htk"))
        XCTAssertEqual(mics.count, 3)
        XCTAssertEqual(mics.last, .object(["index": .number(2), "name": .string("mic2"), "channel": .number(2),
                                           "topic": .string("plant/line3/mic2")]))
        XCTAssertEqual("\(settings.tensorTopic(mic: 2, source: "mix"))", "plant/line3/mic2/mix", "topic + /source")
    }
}
