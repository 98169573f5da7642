import Foundation
import ReferenceHarness
import XCTest

/// The shipped unit file, checked by systemd's own verifier with ExecStart pointing at the
/// built binary (systemd-analyze checks that the command exists and is executable).
final class SystemdUnitTests: XCTestCase {
    func verify(_ unit: String, binary: String) throws -> (status: Int32, stderr: String) {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "unit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("acoustic-edge.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/acoustic-edge", with: binary)
            .write(to: path, atomically: true, encoding: .utf8)
        let result = try ReferenceHarness.runCapturing("/usr/bin/systemd-analyze", ["verify", path.path])
        return (result.status, result.stderr)
    }

    func testUnitVerifies() throws {
        let unit = try String(contentsOf: ReferenceHarness.repositoryRoot.appendingPathComponent("systemd/acoustic-edge.service"), encoding: .utf8)
        let binary = ReferenceHarness.agentExecutable
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "no built agent at \(binary)")
        let good = try verify(unit, binary: binary)
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(good.stderr, "")
        for key in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "SupplementaryGroups=audio", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "ReadWritePaths=/var/lib/acoustic-edge", "ProtectHome=yes", "PrivateTmp=yes",
                    "TimeoutStopSec="] {
            XCTAssertTrue(unit.contains(key), "unit lacks \(key)")
        }
        // The verifier is not a rubber stamp: a missing binary fails.
        let bad = try verify(unit, binary: "/nonexistent/acoustic-edge")
        XCTAssertNotEqual(bad.status, 0)
    }
}
