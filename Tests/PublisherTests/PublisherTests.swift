import Foundation
import ReferenceHarness
import XCTest

/// The `acoustic-edge` executable as operators run it: the built binary, real files,
/// exit statuses and what lands on stdout and stderr.
final class PublisherTests: XCTestCase {
    var agent: String { ReferenceHarness.agentExecutable }

    /// Runs the agent with `arguments`.
    func runAgent(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try ReferenceHarness.runCapturing(agent, arguments)
    }

    /// Asserts the failure convention: the status, nothing on stdout, and exactly one line on
    /// stderr, `acoustic-edge: error: <reason>`; returns the reason.
    @discardableResult
    func assertOneLineFailure(_ result: (status: Int32, stdout: String, stderr: String), status: Int32,
                              file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertEqual(result.status, status, "exit status; stderr: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stdout, "", "stdout of a failure", file: file, line: line)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 2, "one line and its newline: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("acoustic-edge: error: "), result.stderr, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr, file: file, line: line)
        return String(lines.first?.dropFirst("acoustic-edge: error: ".count) ?? "")
    }

    /// Tensor files written by torch.save, numpy.save and safetensors, with what numpy says
    /// about them (Tests/reference/inspect_reference.py), made once for the whole class:
    /// importing torch costs seconds.
    nonisolated(unsafe) static var referenceFolder: URL?
    nonisolated(unsafe) static var referenceFailure: Error?

    override class func setUp() {
        super.setUp()
        do {
            let dir = try ReferenceHarness.makeScratchFolder(prefix: "publisher-reference")
            referenceFolder = dir
            try ReferenceHarness.python("inspect_reference.py", [dir.path])
        } catch {
            referenceFailure = error
        }
    }

    override class func tearDown() {
        if let dir = referenceFolder { try? FileManager.default.removeItem(at: dir) }
        super.tearDown()
    }

    /// The folder of the reference files (fails the test if the script failed).
    func referenceFiles() throws -> URL {
        if let failure = Self.referenceFailure { throw failure }
        return try XCTUnwrap(Self.referenceFolder)
    }

    func scratch() throws -> URL {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "publisher")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    // MARK: the binary

    func testTheBuiltExecutableIsFound() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: agent),
                      "no acoustic-edge at \(agent): build it (swift build) or set AE_BIN")
        let help = try runAgent(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("inspect"), help.stdout)
        XCTAssertTrue(help.stdout.contains("check-config"), help.stdout)
    }

    /// Help and version stay swift-argument-parser's, with status 0, for every subcommand.
    func testHelpAndVersion() throws {
        for arguments in [["inspect", "--help"], ["help", "inspect"], ["check-config", "-h"]] {
            let result = try runAgent(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stdout.hasPrefix("OVERVIEW: "), "\(arguments): \(result.stdout)")
            XCTAssertFalse(result.stderr.contains("error"), result.stderr)
        }
        let version = try runAgent(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertFalse(version.stdout.isEmpty)
    }

    /// The one-line convention holds for every subcommand, not only the ones written here:
    /// it is applied by the root command to whatever a subcommand's run() throws.
    func testEverySubcommandFailsOnOneLine() throws {
        let dir = try scratch()
        let result = try runAgent(["calibrate", "--device", "acoustic_edge_no_such_pcm", "--seconds", "0.1",
                                   "--output", dir.appendingPathComponent("noise.pt").path])
        assertOneLineFailure(result, status: 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("noise.pt").path))
    }

    // MARK: inspect

    /// `inspect --json` on files written by torch.save, numpy.save and safetensors: the
    /// shapes, types and statistics numpy computes.
    func testInspectReportsWhatNumpyComputes() throws {
        let dir = try referenceFiles()
        let expectedData = try Data(contentsOf: dir.appendingPathComponent("expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: expectedData) as? [String: [String: Any]])
        XCTAssertEqual(expected.count, 15)
        for (name, facts) in expected.sorted(by: { $0.key < $1.key }) {
            let path = dir.appendingPathComponent(name).path
            let result = try runAgent(["inspect", "--json", path])
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                       "\(name): \(result.stdout)")
            XCTAssertEqual(report["file"] as? String, path)
            XCTAssertEqual(report["format"] as? String, (name as NSString).pathExtension)
            XCTAssertEqual(report["metadata"] as? [String: String], facts["metadata"] as? [String: String], name)
            let got = try XCTUnwrap(report["tensors"] as? [[String: Any]])
            let want = try XCTUnwrap(facts["tensors"] as? [[String: Any]])
            XCTAssertEqual(got.count, want.count, name)
            for (g, w) in zip(got, want) {
                let what = "\(name) \(w["name"] as? String ?? "")"
                XCTAssertEqual(g["name"] as? String, w["name"] as? String, what)
                XCTAssertEqual(g["shape"] as? [Int], w["shape"] as? [Int], what)
                XCTAssertEqual(g["dtype"] as? String, w["dtype"] as? String, what)
                for key in ["count", "nan", "inf"] {
                    XCTAssertEqual(g[key] as? Int, w[key] as? Int, "\(what) \(key)")
                }
                for key in ["min", "max", "mean", "std"] {
                    if w[key] is NSNull {
                        XCTAssertTrue(g[key] is NSNull, "\(what) \(key) should be null: \(String(describing: g[key]))")
                        continue
                    }
                    let gv = try XCTUnwrap(g[key] as? Double, "\(what) \(key)")
                    let wv = try XCTUnwrap(w[key] as? Double, "\(what) \(key)")
                    // min and max are float32 values: exact. mean and std: double sums in
                    // another order than numpy's pairwise summation.
                    let tolerance = key == "min" || key == "max" ? 0 : 1e-9 * max(1, abs(wv))
                    XCTAssertEqual(gv, wv, accuracy: tolerance, "\(what) \(key)")
                }
            }
        }
    }

    func testInspectTextOfAMelTensorWrittenByTorchSave() throws {
        let dir = try referenceFiles()
        let result = try runAgent(["inspect", dir.appendingPathComponent("mel.pt").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("PyTorch .pt, 1 tensor"), result.stdout)
        XCTAssertTrue(result.stdout.contains("shape [1, 240, 240]"), result.stdout)
        XCTAssertTrue(result.stdout.contains("57600 values"), result.stdout)
        XCTAssertTrue(result.stdout.contains("NaN 0  inf 0"), result.stdout)

        let multi = try runAgent(["inspect", dir.appendingPathComponent("multi.safetensors").path])
        XCTAssertEqual(multi.status, 0, multi.stderr)
        XCTAssertTrue(multi.stdout.contains("safetensors, 2 tensors"), multi.stdout)
        XCTAssertTrue(multi.stdout.contains("metadata: mic, segment_start, source"), multi.stdout)
        XCTAssertTrue(multi.stdout.contains("half: shape [3, 2] dtype F16"), multi.stdout)
        XCTAssertTrue(multi.stdout.contains("weights: shape [4, 6] dtype F32"), multi.stdout)
    }

    func testInspectRefusesATruncatedFileOnOneLine() throws {
        let source = try referenceFiles()
        let dir = try scratch()
        let whole = try Data(contentsOf: source.appendingPathComponent("mel.pt"))
        for (ext, name) in [("pt", "mel.pt"), ("npy", "mel.npy"), ("safetensors", "multi.safetensors")] {
            let bytes = try Data(contentsOf: source.appendingPathComponent(name))
            for fraction in [0.0, 0.1, 0.5, 0.99] {
                let path = dir.appendingPathComponent("cut.\(ext)")
                try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: path)
                let reason = assertOneLineFailure(try runAgent(["inspect", path.path]), status: 1)
                XCTAssertTrue(reason.contains(path.path), "the reason names the file: \(reason)")
            }
        }
        XCTAssertGreaterThan(whole.count, 230_000)
    }

    func testInspectRefusesMissingAndUnknownFiles() throws {
        let missing = assertOneLineFailure(try runAgent(["inspect", "/nonexistent/x.pt"]), status: 1)
        XCTAssertEqual(missing, "/nonexistent/x.pt: No such file or directory")
        let dir = try scratch()
        let wav = dir.appendingPathComponent("x.wav")
        try Data([1, 2, 3]).write(to: wav)
        let unknown = assertOneLineFailure(try runAgent(["inspect", wav.path]), status: 1)
        XCTAssertTrue(unknown.contains("unknown tensor file extension '.wav'"), unknown)
        let notPT = dir.appendingPathComponent("text.pt")
        try Data("hello, not a zip\n".utf8).write(to: notPT)
        assertOneLineFailure(try runAgent(["inspect", notPT.path]), status: 1)
    }

    func testUsageErrorsAreArgumentParsers() throws {
        let result = try runAgent(["inspect"])
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertTrue(result.stderr.contains("Missing expected argument"), result.stderr)
    }

    // MARK: check-config

    func testCheckConfigNamesATypoWithExitStatus2() throws {
        let dir = try scratch()
        let config = dir.appendingPathComponent("site.yaml")
        try "capture:\n  device: hw:1,0\n  sample_rat: 48000\n".write(to: config, atomically: true, encoding: .utf8)
        let reason = assertOneLineFailure(try runAgent(["check-config", "--config", config.path]), status: 2)
        XCTAssertEqual(reason, "\(config.path):3: capture.sample_rat: unknown key 'sample_rat' (did you mean 'capture.sample_rate'?)")
    }

    func testCheckConfigRefusesImpossibleValuesAndBrokenFiles() throws {
        let dir = try scratch()
        let cases: [(String, String)] = [
            ("mqtt:\n  qos: 3\n", "mqtt.qos: must be 0, 1 or 2, got 3"),
            ("mel:\n  n_mels: 0\n", "mel.n_mels: must be 1 to 4096 mel bands, got 0"),
            ("mqtt:\n  payload: json\n", "mqtt.payload: expected pt, safetensors or npy, got the string 'json'"),
            ("capture:\n  sample_rate: [16000\n", "invalid YAML"),
        ]
        for (index, (yaml, expected)) in cases.enumerated() {
            let config = dir.appendingPathComponent("c\(index).yaml")
            try yaml.write(to: config, atomically: true, encoding: .utf8)
            let reason = assertOneLineFailure(try runAgent(["check-config", "--config", config.path]), status: 2)
            XCTAssertTrue(reason.hasPrefix(config.path + ":"), reason)
            XCTAssertTrue(reason.contains(expected), reason)
        }
        let missing = assertOneLineFailure(try runAgent(["check-config", "--config", "/nonexistent/agent.yaml"]), status: 2)
        XCTAssertEqual(missing, "/nonexistent/agent.yaml: no such configuration file")
    }

    func testCheckConfigPrintsTheEffectiveSettings() throws {
        let example = ReferenceHarness.repositoryRoot.appendingPathComponent("config/acoustic-edge.yaml").path
        let result = try runAgent(["check-config", "--config", example])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        XCTAssertTrue(result.stdout.hasPrefix("# effective settings of \(example)\n"), result.stdout)
        for line in ["  sample_rate: 16000", "  n_mels: 240", "  topic_prefix: \"plant\"", "    max_bytes: 268435456"] {
            XCTAssertTrue(result.stdout.contains(line + "\n"), "\(line) in \(result.stdout)")
        }
        // A site file changes only what it names; the printed settings parse back as a config.
        let dir = try scratch()
        let site = dir.appendingPathComponent("site.yaml")
        try "mqtt:\n  topic_prefix: plant/line3\n".write(to: site, atomically: true, encoding: .utf8)
        let changed = try runAgent(["check-config", "--config", site.path])
        XCTAssertEqual(changed.status, 0, changed.stderr)
        XCTAssertTrue(changed.stdout.contains("  topic_prefix: \"plant/line3\"\n"), changed.stdout)
        let effective = dir.appendingPathComponent("effective.yaml")
        try changed.stdout.write(to: effective, atomically: true, encoding: .utf8)
        let again = try runAgent(["check-config", "--config", effective.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout.split(separator: "\n").dropFirst(), changed.stdout.split(separator: "\n").dropFirst())

        let defaults = try runAgent(["check-config"])
        XCTAssertEqual(defaults.status, 0, defaults.stderr)
        XCTAssertEqual(defaults.stdout.split(separator: "\n").dropFirst(), result.stdout.split(separator: "\n").dropFirst())
    }
}
