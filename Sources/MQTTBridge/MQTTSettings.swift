import Foundation

/// Everything the bridge needs to reach a broker and to name its topics.
///
/// The agent fills one of these from the configuration's `mqtt.*` keys, which are validated
/// there; ``validate()`` checks only the bridge's own knobs that have no key.
/// The password is never stored here in clear: ``password`` names where to read it from,
/// and ``MQTTSettings/description`` never prints it.
public struct MQTTSettings: Sendable, CustomStringConvertible {
    /// Where the broker password comes from. It is read when a connection is made, so a
    /// rotated password file is picked up at the next reconnect.
    public enum PasswordSource: Sendable, Equatable {
        /// No password (anonymous, or user name only).
        case none
        /// A file whose first line is the password, e.g. a systemd credential.
        case file(String)
        /// An environment variable holding the password.
        case environment(String)
    }

    /// TLS settings. The connection is encrypted and the broker's certificate must be signed
    /// by the CA (`caFile`, or the system's store) and name the host (unless `insecure`);
    /// a client certificate is optional.
    public struct TLS: Sendable, Equatable {
        /// PEM file of the CA that signed the broker's certificate; nil = the system's
        /// store (`/etc/ssl/certs`).
        public var caFile: String?
        /// PEM client certificate, when the broker requires one (`require_certificate true`).
        public var certificateFile: String?
        /// PEM private key of the client certificate.
        public var keyFile: String?
        /// Skip the check that the certificate names the host (testing only).
        public var insecure: Bool

        /// A TLS setting; `certificateFile` and `keyFile` go together.
        public init(caFile: String?, certificateFile: String? = nil, keyFile: String? = nil, insecure: Bool = false) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.insecure = insecure
        }

        /// The system's CA folder, used when `caFile` is nil.
        public static let systemCAPath = "/etc/ssl/certs"
    }

    /// Broker host name or address.
    public var host: String = "127.0.0.1"
    /// Broker TCP port (1883, or 8883 for TLS by convention).
    public var port: Int = 1883
    /// MQTT client identifier; one per agent (a second client with the same id takes the
    /// session over and the broker drops the first).
    public var clientID: String = "acoustic-edge"
    /// Keepalive interval in seconds; the broker declares the agent dead (last will) after
    /// 1.5 times this without traffic.
    public var keepalive: Int = 30
    /// User name, or nil for anonymous access.
    public var username: String?
    /// Where the password is read from.
    public var password: PasswordSource = .none
    /// TLS, or nil for plain TCP.
    public var tls: TLS?
    /// QoS of tensor messages that do not name their own (0, 1 or 2; the product uses 1).
    public var qos: Int = 1
    /// Topic prefix of this agent, any topic path (`plant`, `plant/line3/node7`).
    public var topicPrefix: String = "plant"
    /// Folder of the on-disk spool; nil keeps the spool in memory (lost at exit).
    public var spoolDirectory: String?
    /// Upper bound of the spool in payload+header bytes; when full the oldest waiting
    /// messages are dropped and counted.
    public var spoolLimitBytes: Int = 256 * 1024 * 1024
    /// Bytes of messages kept in memory when the spool's disk refuses a write (full, read-only,
    /// gone): they are delivered from memory while the broker is connected, and what does not
    /// fit is counted as lost (`stats.lost`). Also bounded by ``spoolLimitBytes``.
    public var spoolMemoryLimitBytes: Int = 32 * 1024 * 1024
    /// Messages per second the backlog (what waited in the spool) may use while it drains;
    /// live messages always go first. 0 = as fast as the broker acknowledges.
    public var drainRate: Double = 0
    /// MQTT v5 message expiry interval of tensor messages in seconds, counted from when the
    /// message was made (a spooled one is sent with what is left, or dropped and counted in
    /// `stats.expired` once it is older); 0 = never expires.
    public var messageExpiry: Int = 0
    /// Commands handed to the agent and not yet answered, at most; beyond it a command is
    /// answered `"error": "busy"` (a start/stop waits in one slot instead: ``CommandGate``).
    public var commandLimit: Int = 64
    /// Replies kept until the broker acknowledges them (waiting for a connection or sent and
    /// not yet acknowledged); beyond it the oldest is dropped and counted (`stats.lostReplies`).
    public var replyLimit: Int = 1024
    /// A connection cut by the broker this soon after its CONNACK counts towards a client-id
    /// takeover; one that lasts this long is stable (the backoff starts again from
    /// ``reconnectDelay``). Seconds.
    public var takeoverWindow: Double = 10
    /// Connections cut in a row within ``takeoverWindow`` after which another client is
    /// taken to be using the client id.
    public var takeoverThreshold: Int = 3
    /// Capacity of the hand-over queue between ``MQTTBridge/publish(_:)`` and the bridge's
    /// thread; `publish` returns false when it is full.
    public var queueCapacity: Int = 256
    /// Messages sent but not yet acknowledged (PUBACK) at most.
    public var maxInFlight: Int = 16
    /// First reconnect delay in seconds; it doubles after each failure up to ``reconnectDelayMax``.
    public var reconnectDelay: Double = 1
    /// Cap of the reconnect delay in seconds; the bridge never gives up.
    public var reconnectDelayMax: Double = 30
    /// Seconds a connection attempt may take to get its CONNACK before it is abandoned.
    public var connectTimeout: Double = 15
    /// Seconds between periodic status refreshes (0 = only on change and on reconnect).
    public var statusInterval: Double = 60

    /// Settings with the defaults above.
    public init() {}

    /// `{prefix}/status`: retained status JSON, and the last will.
    public var statusTopic: String { topicPrefix + "/status" }
    /// `{prefix}/meta`: the retained birth message that describes the stream.
    public var metaTopic: String { topicPrefix + "/meta" }
    /// `{prefix}/cmd`: where operators send commands.
    public var commandTopic: String { topicPrefix + "/cmd" }
    /// `{prefix}/cmd/response`: where replies go when a request names no response topic.
    public var commandResponseTopic: String { topicPrefix + "/cmd/response" }
    /// `{prefix}/mic{i}/{source}`: the topic of one microphone's separated source.
    public func tensorTopic(mic: Int, source: String) -> String {
        "\(topicPrefix)/mic\(mic)/\(source)"
    }

    /// Checks the bridge's own knobs (queue, in-flight window, reconnect timing, status
    /// interval); throws ``MQTTSettingsError`` naming the first wrong one. The fields that come
    /// from the configuration's `mqtt.*` keys (host, port, client id, keepalive, QoS, prefix,
    /// credentials, TLS, spool bound) are validated there, where the keys are defined.
    public func validate() throws {
        func fail(_ key: String, _ why: String) -> MQTTSettingsError { MQTTSettingsError(key: key, reason: why) }
        if queueCapacity < 1 { throw fail("queue_capacity", "must be at least 1") }
        if !(1...65535).contains(maxInFlight) { throw fail("max_in_flight", "\(maxInFlight) is not in 1...65535") }
        if !(reconnectDelay > 0) { throw fail("reconnect_delay", "must be positive") }
        if !(reconnectDelayMax >= reconnectDelay) {
            throw fail("reconnect_delay_max", "must be at least reconnect_delay")
        }
        if !(connectTimeout > 0) { throw fail("connect_timeout", "must be positive") }
        if !(statusInterval >= 0) { throw fail("status_interval", "must be 0 or positive") }
        if spoolMemoryLimitBytes < 0 { throw fail("spool.memory_bytes", "must be 0 or more") }
        if !(drainRate >= 0) || !drainRate.isFinite { throw fail("spool.drain_rate", "must be 0 (unlimited) or a positive number of messages per second") }
        if messageExpiry < 0 || messageExpiry > Int(UInt32.max) {
            throw fail("message_expiry", "must be 0 (never) to \(UInt32.max) seconds")
        }
        if commandLimit < 1 { throw fail("command_limit", "must be at least 1") }
        if replyLimit < 1 { throw fail("reply_limit", "must be at least 1") }
        if !(takeoverWindow > 0) { throw fail("takeover_window", "must be positive") }
        if takeoverThreshold < 1 { throw fail("takeover_threshold", "must be at least 1") }
    }

    /// Why `topic` cannot take a command's reply, or nil when it can. A reply goes to a valid
    /// topic name (no wildcard, no `$`, not empty) outside the agent's prefix, or to
    /// `{prefix}/cmd/response` and below: never onto a tensor, status, meta or command topic.
    func responseTopicProblem(_ topic: String) -> String? {
        do {
            try Self.checkTopicName(topic, key: "response topic")
        } catch let error as MQTTSettingsError {
            return error.reason
        } catch {
            return "\(error)"
        }
        let inside = topic == topicPrefix || topic.hasPrefix(topicPrefix + "/")
        if inside && topic != commandResponseTopic && !topic.hasPrefix(commandResponseTopic + "/") {
            return "'\(topic)' is one of the agent's own topics; replies go to \(commandResponseTopic)[/...] or outside \(topicPrefix)/"
        }
        return nil
    }

    /// Checks that `topic` is a valid topic name to publish to: not empty, no wildcards,
    /// no NUL, at most 65535 bytes, no leading `$` (reserved for the broker).
    static func checkTopicName(_ topic: String, key: String) throws {
        if topic.isEmpty { throw MQTTSettingsError(key: key, reason: "is empty") }
        if topic.utf8.count > 65535 { throw MQTTSettingsError(key: key, reason: "is longer than 65535 bytes") }
        if topic.contains("+") || topic.contains("#") {
            throw MQTTSettingsError(key: key, reason: "'\(topic)' contains a wildcard (+ or #)")
        }
        if topic.utf8.contains(0) { throw MQTTSettingsError(key: key, reason: "contains a NUL character") }
        if topic.hasPrefix("$") { throw MQTTSettingsError(key: key, reason: "'\(topic)' starts with $ (reserved)") }
    }

    /// Reads the password from its source. Throws a one-line error naming the source (never
    /// the password).
    func resolvePassword() throws -> String? {
        switch password {
        case .none:
            return nil
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw MQTTSettingsError(key: "password_file", reason: "cannot read '\(path)'")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw MQTTSettingsError(key: "password_file", reason: "'\(path)' is not UTF-8 text")
            }
            // The first line; "\r\n" is one Character in Swift, hence isNewline.
            let line = text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? ""
            return String(line)
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw MQTTSettingsError(key: "password_env", reason: "environment variable \(name) is not set")
            }
            return value
        }
    }

    /// The settings in one line, without the password.
    public var description: String {
        var parts = ["mqtt\(tls == nil ? "" : "s")://\(host):\(port)", "client_id=\(clientID)",
                     "prefix=\(topicPrefix)", "qos=\(qos)", "keepalive=\(keepalive)s"]
        if let username { parts.append("user=\(username)") }
        switch password {
        case .none: break
        case .file(let path): parts.append("password_file=\(path)")
        case .environment(let name): parts.append("password_env=\(name)")
        }
        parts.append("spool=\(spoolDirectory ?? "memory") limit=\(spoolLimitBytes)B")
        return parts.joined(separator: " ")
    }
}

/// A wrong MQTT setting: the key and what is wrong with it, in one line.
public struct MQTTSettingsError: Error, CustomStringConvertible, Equatable {
    /// The setting's key as in the configuration file's `mqtt` section.
    public var key: String
    /// What is wrong.
    public var reason: String
    /// `mqtt.<key>: <reason>`.
    public var description: String { "mqtt.\(key): \(reason)" }
}
