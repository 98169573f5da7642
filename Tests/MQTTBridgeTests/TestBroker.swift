import Foundation
import ReferenceHarness
#if canImport(Glibc)
import Glibc
#endif

/// A private mosquitto broker for one test: its own scratch folder, config and free
/// 127.0.0.1 port; stopped (SIGTERM) and restartable on the same port.
final class TestBroker: @unchecked Sendable {
    struct Options {
        /// user -> password; anonymous access is refused when set.
        var users: [String: String] = [:]
        /// Keep sessions and queued messages across a restart (persistence file in the scratch folder).
        var persistence = false
        /// TLS listener: CA, server certificate and key; `requireClientCertificate` asks for one.
        var tls: (ca: String, certificate: String, key: String)? = nil
        var requireClientCertificate = false
        /// An ACL file for the broker.
        var aclFile: String? = nil
    }

    let folder: URL
    let port: Int
    let options: Options
    private var process: Process?

    /// A broker on a free port, started unless `start` is false.
    init(_ options: Options = Options(), start: Bool = true) throws {
        self.options = options
        folder = try ReferenceHarness.makeScratchFolder(prefix: "mosquitto")
        port = try TestBroker.freePort()
        try writeConfig()
        if start { try self.start() }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: folder)
    }

    var logPath: String { folder.appendingPathComponent("mosquitto.log").path }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// A port the kernel just gave and took back.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                guard bind(fd, sa, length) == 0 else { return -1 }
                return getsockname(fd, sa, &length)
            }
        }
        guard bound == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private func writeConfig() throws {
        var lines = [
            "listener \(port) 127.0.0.1",
            "log_dest file \(logPath)",
            "log_type all",
            "connection_messages true",
            // The tests run as root; without this mosquitto drops to user `mosquitto`,
            // which cannot write the scratch folder.
            getuid() == 0 ? "user root" : "",
            "persistence \(options.persistence)",
            "persistence_location \(folder.path)/",
            "autosave_interval 1",
        ]
        if options.users.isEmpty {
            lines.append("allow_anonymous true")
        } else {
            let passwords = folder.appendingPathComponent("passwords").path
            _ = FileManager.default.createFile(atPath: passwords, contents: nil)
            for (user, password) in options.users {
                try ReferenceHarness.run("/usr/bin/mosquitto_passwd", ["-b", passwords, user, password])
            }
            lines += ["allow_anonymous false", "password_file \(passwords)"]
        }
        if let tls = options.tls {
            lines += ["cafile \(tls.ca)", "certfile \(tls.certificate)", "keyfile \(tls.key)",
                      "require_certificate \(options.requireClientCertificate)"]
        }
        if let acl = options.aclFile { lines.append("acl_file \(acl)") }
        try lines.joined(separator: "\n").appending("\n")
            .write(to: folder.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts mosquitto and waits until its port accepts connections.
    func start() throws {
        let process = Process()
        // Children of the test process inherit its blocked signals (SIGTERM among them), and
        // mosquitto would then ignore the SIGTERM of stop(): exec it through Python with an
        // empty signal mask.
        process.executableURL = URL(fileURLWithPath: ReferenceHarness.pythonPath)
        process.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
                             "/usr/sbin/mosquitto", "-c", folder.appendingPathComponent("mosquitto.conf").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if TestBroker.accepts(port: port) { return }
            if !process.isRunning { break }
            usleep(50_000)
        }
        throw NSError(domain: "mosquitto", code: 1, userInfo: [NSLocalizedDescriptionKey:
            "mosquitto did not start on port \(port): \(log.suffix(2000))"])
    }

    /// Stops mosquitto (SIGTERM; it saves persistence) and waits for it to exit; SIGKILL
    /// after 5 s.
    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        if !Wait.until(5, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        self.process = nil
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// A message one of the Python (paho-mqtt) subscribers received.
struct Received: Decodable {
    var topic: String
    var length: Int
    var sha256: String
    var payload_hex: String?
    var qos: Int
    var retain: Bool
    var user_properties: [[String]]
    var content_type: String?
    var correlation_data_hex: String?
    /// When paho got it (seconds since 1970).
    var received_at: Double?
    /// The MQTT v5 message expiry interval it arrived with.
    var message_expiry: Int?

    var payloadText: String? { payloadBytes.map { String(decoding: $0, as: UTF8.self) } }
    func property(_ name: String) -> String? { user_properties.first { $0.first == name }?.last }
    var payloadBytes: [UInt8]? {
        guard let hex = payload_hex else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}

/// `Tests/reference/mqtt_subscriber.py` running in the background: paho-mqtt, MQTT v5.
final class PahoSubscriber: @unchecked Sendable {
    let output: URL
    private let ready: URL
    private let process = Process()
    private let stderrURL: URL

    /// Subscribes to `topics` and records each message (JSON lines) until `count` arrive
    /// or `timeout` seconds pass. Returns once the subscription is acknowledged.
    init(port: Int, topics: [String], count: Int, timeout: Double = 60, clientID: String? = nil,
         persistentSession: Bool = false, extra: [String] = []) throws {
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "paho")
        output = folder.appendingPathComponent("received.jsonl")
        ready = folder.appendingPathComponent("ready")
        stderrURL = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        var arguments = [ReferenceHarness.scriptsFolder.appendingPathComponent("mqtt_subscriber.py").path,
                         "--port", String(port), "--out", output.path, "--ready", ready.path,
                         "--count", String(count), "--timeout", String(timeout)]
        for topic in topics { arguments += ["--topic", topic] }
        if let clientID { arguments += ["--client-id", clientID] }
        if persistentSession { arguments.append("--persistent") }
        arguments += extra
        process.executableURL = URL(fileURLWithPath: ReferenceHarness.pythonPath)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: ready.path) {
            guard Date() < deadline, process.isRunning else {
                throw NSError(domain: "paho", code: 1, userInfo: [NSLocalizedDescriptionKey:
                    "subscriber not ready: \(stderr)"])
            }
            usleep(20_000)
        }
    }

    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// What it received so far.
    var received: [Received] {
        guard let text = try? String(contentsOf: output, encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(Received.self, from: Data($0.utf8)) }
    }

    /// Waits for it to exit (count reached or timeout) and returns what it received.
    func finish() -> [Received] {
        process.waitUntilExit()
        return received
    }

    /// Stops it now (SIGKILL: a blocked SIGTERM inherited from the test process would be ignored).
    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { kill() }
}
