import Foundation
import XCTest
@testable import MQTTBridge

final class SettingsTests: XCTestCase {
    func testValidationNamesTheBridgesOwnKnobs() {
        var settings = MQTTSettings()
        XCTAssertNoThrow(try settings.validate())
        settings.maxInFlight = 0
        XCTAssertThrowsError(try settings.validate()) { XCTAssertTrue("\($0)".hasPrefix("mqtt.max_in_flight:")) }
        settings = MQTTSettings()
        settings.reconnectDelayMax = 0.5
        XCTAssertThrowsError(try settings.validate()) { XCTAssertTrue("\($0)".hasPrefix("mqtt.reconnect_delay_max:")) }
        // The `mqtt.*` configuration keys (port, prefix, credentials, TLS) are validated by the
        // configuration, where they are defined: ConfigurationTests' impossibleValue cases.
    }

    func testPasswordNeverInDescriptionAndReadFromFileOrEnvironment() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
        try "s3cret-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var settings = MQTTSettings()
        settings.username = "agent"
        settings.password = .file(file.path)
        XCTAssertEqual(try settings.resolvePassword(), "s3cret-file")
        XCTAssertFalse(settings.description.contains("s3cret"))
        setenv("AE_TEST_MQTT_PASSWORD", "s3cret-env", 1)
        settings.password = .environment("AE_TEST_MQTT_PASSWORD")
        XCTAssertEqual(try settings.resolvePassword(), "s3cret-env")
        XCTAssertFalse(settings.description.contains("s3cret"))
        settings.password = .environment("AE_TEST_MQTT_PASSWORD_UNSET")
        XCTAssertThrowsError(try settings.resolvePassword()) {
            XCTAssertEqual("\($0)", "mqtt.password_env: environment variable AE_TEST_MQTT_PASSWORD_UNSET is not set")
        }
    }

    func testPasswordFileFirstLineOnly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
        try "line-one\r\nline-two\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var settings = MQTTSettings()
        settings.username = "u"
        settings.password = .file(file.path)
        XCTAssertEqual(try settings.resolvePassword(), "line-one")
    }
}
