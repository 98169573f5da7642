import Foundation

/// Runs the real Python libraries that each stage of acoustic-edge must match
/// (noisereduce, torchaudio, demucs, torch) from the project's virtual environment.
///
/// Parity tests write their input to a scratch folder, call a script in `Tests/reference/`
/// with `python(...)`, and compare what the script wrote with what the Swift code computed.
/// The venv is made by `scripts/setup.sh`; `AE_PYTHON` overrides the interpreter.
public enum ReferenceHarness {
    /// The repository's root folder (the one holding `Package.swift`).
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The folder of the reference scripts, `Tests/reference/`.
    public static var scriptsFolder: URL {
        repositoryRoot.appendingPathComponent("Tests/reference")
    }

    /// The Python interpreter of the project's venv (or `AE_PYTHON`).
    public static var pythonPath: String {
        if let override = ProcessInfo.processInfo.environment["AE_PYTHON"], !override.isEmpty {
            return override
        }
        return repositoryRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// The failure of a reference script: its exit status and what it printed on stderr.
    public struct ScriptFailure: Error, CustomStringConvertible {
        /// The command line that failed.
        public var command: [String]
        /// Its exit status.
        public var status: Int32
        /// The end of its standard error.
        public var stderr: String
        public var description: String {
            "\(command.joined(separator: " ")) exited \(status): \(stderr)"
        }
    }

    /// Runs `Tests/reference/<script>` with `arguments` under the venv's Python and returns
    /// its standard output. Throws `ScriptFailure` when it exits non-zero.
    @discardableResult
    public static func python(_ script: String, _ arguments: [String] = [],
                              environment: [String: String] = [:]) throws -> String {
        let path = script.hasPrefix("/") ? script : scriptsFolder.appendingPathComponent(script).path
        return try run(pythonPath, [path] + arguments, environment: environment)
    }

    /// Runs any program and returns its standard output; throws `ScriptFailure` on a
    /// non-zero exit.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String],
                           environment: [String: String] = [:],
                           currentDirectory: URL? = nil) throws -> String {
        let result = try runCapturing(executable, arguments, environment: environment,
                                      currentDirectory: currentDirectory)
        guard result.status == 0 else {
            throw ScriptFailure(command: [executable] + arguments, status: result.status,
                                stderr: String(result.stderr.suffix(4000)))
        }
        return result.stdout
    }

    /// Runs a program and returns its exit status, standard output and standard error,
    /// whatever the status.
    public static func runCapturing(_ executable: String, _ arguments: [String],
                                    environment: [String: String] = [:],
                                    currentDirectory: URL? = nil) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let scratch = try makeScratchFolder(prefix: "run")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files, not pipes: a chatty child can never block on a full pipe buffer.
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return (process.terminationStatus, stdout, stderr)
    }

    /// A new, empty scratch folder under the system's temporary directory.
    public static func makeScratchFolder(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("acoustic-edge-\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The built `acoustic-edge` executable of this build: `AE_BIN` when set, otherwise the
    /// one beside the running test bundle (`.build/<triple>/<debug|release>/`), so
    /// `swift test` tests the debug binary and `swift test -c release` the release one.
    public static var agentExecutable: String {
        if let override = ProcessInfo.processInfo.environment["AE_BIN"], !override.isEmpty {
            return override
        }
        // On Linux the test bundle is an executable (`acoustic-edgePackageTests.xctest`) and
        // `Bundle.main` is its folder; on macOS it is the `.xctest` bundle inside that folder.
        let bundle = Bundle.main.bundleURL
        let runner = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
        let candidates = [
            bundle.appendingPathComponent("acoustic-edge").path,
            bundle.deletingLastPathComponent().appendingPathComponent("acoustic-edge").path,
            runner.appendingPathComponent("acoustic-edge").path,
        ]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        return candidates[0]
    }
}
