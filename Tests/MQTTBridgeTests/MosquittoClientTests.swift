import Foundation
import Logging
import XCTest
import ReferenceHarness
@testable import MQTTBridge

/// The typed libmosquitto codes, read from the real library (2.0.11).
final class MosquittoCodeTests: XCTestCase {
    func testReturnCodesMapToKindsWithLibmosquittosWords() {
        // Numbers from mosquitto.h (enum mosq_err_t).
        XCTAssertNil(MosquittoError(code: 0))
        XCTAssertEqual(MosquittoError(code: 4), MosquittoError(kind: .noConnection, text: "The client is not currently connected."))
        XCTAssertEqual(MosquittoError(code: 7), MosquittoError(kind: .connectionLost, text: "The connection was lost."))
        XCTAssertEqual(MosquittoError(code: 8)?.kind, .tls)
        XCTAssertEqual(MosquittoError(code: 9)?.kind, .payloadTooLarge)
        XCTAssertEqual(MosquittoError(code: 2)?.kind, .protocolError)
        XCTAssertEqual(MosquittoError(code: 3)?.kind, .other)
        XCTAssertEqual(MQTTReason(code: 135), MQTTReason(code: 135, text: "Not authorized"))
        XCTAssertTrue(MQTTReason(code: 134).isCredentialProblem)
        XCTAssertFalse(MQTTReason(code: 0).isFailure)
    }

    func testDisconnectCodesSplitIntoOursAndTheBrokers() {
        XCTAssertEqual(DisconnectCause(code: 0), .normal)
        XCTAssertEqual(DisconnectCause(code: 7), .library(MosquittoError(kind: .connectionLost, text: "The connection was lost.")))
        XCTAssertEqual(DisconnectCause(code: 0x8E), .broker(MQTTReason(code: 0x8E, text: "Session taken over")))
        XCTAssertEqual("\(DisconnectCause(code: 0x8E))", "the broker disconnected: Session taken over (reason code 142)")
    }

    /// A second connection with the agent's client id. mosquitto 2.0.11 closes the agent's
    /// connection without a DISCONNECT packet (seen on the wire: no 0x8E), so libmosquitto
    /// reports a plain loss: telling a takeover apart needs more than the disconnect reason
    /// with this broker.
    func testSessionTakenOverByMosquittoReadsAsALostConnection() async throws {
        let broker = try TestBroker()
        var settings = bridgeSettings(port: broker.port)
        settings.reconnectDelay = 5     // not back before the check
        settings.reconnectDelayMax = 5
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        try ReferenceHarness.run("/usr/bin/mosquitto_pub", ["-V", "5", "-p", String(broker.port), "-i", settings.clientID,
                                                            "-t", "other/topic", "-m", "x"])
        XCTAssertTrue(Wait.until(10) { !bridge.stats.connected })
        XCTAssertEqual(bridge.stats.lastError, "connection to 127.0.0.1:\(broker.port) lost: The connection was lost.")
        await bridge.shutdown(flushWithin: 0)
    }

    /// A broker that announces the takeover (DISCONNECT 0x8E): libmosquitto hands that reason,
    /// not a MOSQ_ERR code, to the disconnect callback, and the bridge names it.
    func testDisconnectReasonOfTheBrokerIsNamed() async throws {
        let port = try TestBroker.freePort()
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "takeover")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var settings = bridgeSettings(port: port)
        settings.reconnectDelayMax = 0.3
        let logger = Logger(label: "test") { _ in CollectingLogHandler() }
        let bridge = try MQTTBridge(settings: settings, logger: logger)
        bridge.start()
        try ReferenceHarness.python("mqtt_fake_broker.py", [String(port), "2", "takeover", scratch.appendingPathComponent("n").path])
        let lines = CollectingLogHandler.lines.withLock { $0 }
        XCTAssertTrue(lines.contains("warning mqtt: connection to 127.0.0.1:\(port) lost: the broker disconnected: Session taken over (reason code 142)"),
                      "\(lines.suffix(5))")
        XCTAssertGreaterThanOrEqual(bridge.stats.connections, 1)
        await bridge.shutdown(flushWithin: 0)
    }
}
