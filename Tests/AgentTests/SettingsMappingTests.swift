import Configuration
import Foundation
import MQTTBridge
import Pipeline
import ReferenceHarness
import XCTest
@testable import Agent

/// The configuration turned into each module's settings (the agent's composition layer).
final class SettingsMappingTests: XCTestCase {
    func testMQTTSectionMapsToSettings() throws {
        var config = MQTTConfig()
        config.host = "broker.plant"
        config.port = 8883
        config.topicPrefix = "plant/line3/node7"
        config.keepalive = 45
        config.username = "agent"
        config.passwordEnv = "MQTT_PW"
        config.tls.enabled = true
        config.tls.certFile = "/etc/ae/agent.pem"
        config.tls.keyFile = "/etc/ae/agent.key"
        config.spool.dir = "/var/lib/ae/spool"
        config.spool.maxBytes = 1 << 20
        config.spool.memoryBytes = 5 << 20
        config.spool.drainRate = 12.5
        config.messageExpiry = 600
        let settings = MQTTSettings(config: config, hostName: "node7")
        XCTAssertEqual(settings.clientID, "acoustic-edge-node7")
        XCTAssertEqual(settings.host, "broker.plant")
        XCTAssertEqual(settings.port, 8883)
        XCTAssertEqual(settings.keepalive, 45)
        XCTAssertEqual(settings.password, .environment("MQTT_PW"))
        XCTAssertEqual(settings.tls, .init(caFile: nil, certificateFile: "/etc/ae/agent.pem", keyFile: "/etc/ae/agent.key"))
        XCTAssertEqual(settings.statusTopic, "plant/line3/node7/status")
        XCTAssertEqual(settings.tensorTopic(mic: 3, source: "valve"), "plant/line3/node7/mic3/valve")
        XCTAssertEqual(settings.spoolDirectory, "/var/lib/ae/spool")
        XCTAssertEqual(settings.spoolLimitBytes, 1 << 20)
        XCTAssertEqual(settings.spoolMemoryLimitBytes, 5 << 20)
        XCTAssertEqual(settings.drainRate, 12.5)
        XCTAssertEqual(settings.messageExpiry, 600)
        XCTAssertEqual(settings.metaTopic, "plant/line3/node7/meta")
        XCTAssertNoThrow(try settings.validate())
        config.tls.enabled = false
        config.passwordFile = "/run/pw"
        let plain = MQTTSettings(config: config)
        XCTAssertNil(plain.tls)
        XCTAssertEqual(plain.password, .file("/run/pw"), "password_file wins")
    }
}


/// `separator.threads` reaches the separator the pipeline builds.
final class SeparatorThreadsTests: XCTestCase {
    func testSeparatorThreadsSettingGovernsTheSeparator() throws {
        var config = AgentConfig()
        config.denoise.enabled = false
        config.separator.model = ReferenceHarness.repositoryRoot.appendingPathComponent("models/demo-machines.safetensors").path
        config.separator.threads = 1
        let one = try PipelineSetup(settings: PipelineSettings(config: config), channels: 2, inputName: "test")
        XCTAssertEqual(one.processor.separatorThreads, 1)
        config.separator.threads = 0
        let all = try PipelineSetup(settings: PipelineSettings(config: config), channels: 2, inputName: "test")
        XCTAssertEqual(all.processor.separatorThreads, ProcessInfo.processInfo.activeProcessorCount,
                       "0 = one thread per core")
    }
}
