// AgentConfig.load(path:) and AgentConfig.parse(yaml:): the YAML file to a validated
// configuration, or the first problem in the file's order as a one-line ConfigError.
import Foundation
import Yams

extension AgentConfig {
    /// The largest configuration file accepted; anything bigger is not a configuration.
    static let maximumFileBytes = 1 << 20

    /// Reads and validates the configuration file at `path`.
    ///
    /// An empty file (or one holding only comments) is valid and means every default.
    /// Throws `ConfigError` when the file is missing or unreadable, is not YAML, or holds an
    /// unknown key, a value of the wrong type or an impossible value.
    public static func load(path: String) throws(ConfigError) -> AgentConfig {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw ConfigError(.fileNotFound, key: nil, "no such configuration file", file: path)
        }
        guard !isFolder.boolValue else {
            throw ConfigError(.unreadable, key: nil, "is a folder, not a configuration file", file: path)
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigError(.unreadable, key: nil, "cannot read the file (permission denied)", file: path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(.unreadable, key: nil, "cannot read the file", file: path)
        }
        guard data.count <= maximumFileBytes else {
            throw ConfigError(.unreadable, key: nil,
                              "is \(data.count) bytes, too large for a configuration file", file: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(.unreadable, key: nil, "is not UTF-8 text", file: path)
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses and validates configuration YAML. `file` names its origin in error messages.
    ///
    /// Keys that are absent keep their defaults; an empty document is every default.
    public static func parse(yaml: String, file: String? = nil) throws(ConfigError) -> AgentConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        } catch {
            throw ConfigError(.syntax, key: nil, "invalid YAML", file: file)
        }
        let reader = ConfigReader(file: file)
        let config = read(reader.section(root, path: "", line: nil))
        reader.reportUnknownKeys()
        if let first = earliest(reader.problems) { throw first }
        let violations = config.violations().map { problem -> ConfigError in
            var located = problem
            located.file = file
            located.line = problem.key.flatMap { reader.lines[$0] }
            return located
        }
        if let first = earliest(violations) { throw first }
        return config
    }

    /// Checks every rule on values (ranges and combinations); throws the first violation.
    /// `parse` and `load` run it already: use it on a configuration changed in code.
    public func validate() throws(ConfigError) {
        if let first = violations().first { throw first }
    }

    /// The problem that comes first in the file (problems without a line come last).
    private static func earliest(_ problems: [ConfigError]) -> ConfigError? {
        problems.enumerated().min { a, b in
            (a.element.line ?? .max, a.offset) < (b.element.line ?? .max, b.offset)
        }?.element
    }

    /// A one-line message for a libyaml error, with its line.
    private static func syntaxError(_ error: YamlError, file: String?) -> ConfigError {
        func make(_ problem: String, _ context: YamlError.Context?, _ mark: Mark?) -> ConfigError {
            var reason = "invalid YAML: \(problem)"
            if let context, !context.text.isEmpty { reason += " (\(context.text))" }
            return ConfigError(.syntax, key: nil, reason, file: file, line: mark?.line)
        }
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return make(problem, context, mark)
        case let .reader(problem, _, _, _):
            return make(problem, nil, nil)
        case let .duplicatedKeysInMapping(duplicates, context):
            let names = duplicates.map { "'\($0.oneLine)'" }.joined(separator: ", ")
            return ConfigError(.syntax, key: nil, "duplicate key \(names) in one section",
                               file: file, line: context.mark.line)
        default:
            return ConfigError(.syntax, key: nil, "invalid YAML", file: file)
        }
    }

    /// Reads every section and key; each key's default is the property's default.
    private static func read(_ root: SectionReader) -> AgentConfig {
        var config = AgentConfig()

        let capture = root.section("capture")
        var c = config.capture
        c.source = capture.choice("source", c.source)
        c.device = capture.string("device", c.device)
        c.file = capture.optionalString("file", c.file)
        c.channels = capture.int("channels", c.channels)
        c.sampleRate = capture.int("sample_rate", c.sampleRate)
        c.segmentSeconds = capture.double("segment_seconds", c.segmentSeconds)
        c.loop = capture.bool("loop", c.loop)
        c.queueDepth = capture.int("queue_depth", c.queueDepth)
        config.capture = c

        let denoise = root.section("denoise")
        var d = config.denoise
        d.enabled = denoise.bool("enabled", d.enabled)
        d.noiseProfile = denoise.optionalString("noise_profile", d.noiseProfile)
        d.stationary = denoise.bool("stationary", d.stationary)
        d.nFFT = denoise.int("n_fft", d.nFFT)
        d.winLength = denoise.optionalInt("win_length", d.winLength)
        d.hopLength = denoise.optionalInt("hop_length", d.hopLength)
        d.nStdThreshStationary = denoise.double("n_std_thresh_stationary", d.nStdThreshStationary)
        d.threshNMultNonstationary = denoise.double("thresh_n_mult_nonstationary", d.threshNMultNonstationary)
        d.sigmoidSlopeNonstationary = denoise.double("sigmoid_slope_nonstationary", d.sigmoidSlopeNonstationary)
        d.propDecrease = denoise.double("prop_decrease", d.propDecrease)
        d.timeMaskSmoothMs = denoise.double("time_mask_smooth_ms", d.timeMaskSmoothMs)
        d.freqMaskSmoothHz = denoise.double("freq_mask_smooth_hz", d.freqMaskSmoothHz)
        d.timeConstantSeconds = denoise.double("time_constant_s", d.timeConstantSeconds)
        d.clipNoiseStationary = denoise.bool("clip_noise_stationary", d.clipNoiseStationary)
        d.chunkSize = denoise.int("chunk_size", d.chunkSize)
        d.padding = denoise.int("padding", d.padding)
        config.denoise = d

        let separator = root.section("separator")
        config.separator.model = separator.optionalString("model", config.separator.model)
        config.separator.threads = separator.int("threads", config.separator.threads)

        let mel = root.section("mel")
        var m = config.mel
        m.nMels = mel.int("n_mels", m.nMels)
        m.frames = mel.int("frames", m.frames)
        m.nFFT = mel.int("n_fft", m.nFFT)
        m.topDB = mel.double("top_db", m.topDB)
        m.fMin = mel.double("f_min", m.fMin)
        m.fMax = mel.optionalDouble("f_max", m.fMax)
        config.mel = m

        let output = root.section("output")
        var o = config.output
        o.dir = output.string("dir", o.dir)
        o.enabled = output.bool("enabled", o.enabled)
        o.maxBytes = output.byteSize("max_bytes", o.maxBytes)
        o.maxAge = output.duration("max_age", o.maxAge)
        config.output = o

        let mqtt = root.section("mqtt")
        var q = config.mqtt
        q.enabled = mqtt.bool("enabled", q.enabled)
        q.host = mqtt.string("host", q.host)
        q.port = mqtt.int("port", q.port)
        q.clientID = mqtt.optionalString("client_id", q.clientID)
        q.topicPrefix = mqtt.string("topic_prefix", q.topicPrefix)
        q.qos = mqtt.int("qos", q.qos)
        q.payload = mqtt.choice("payload", q.payload)
        q.payloadDType = mqtt.choice("payload_dtype", q.payloadDType)
        q.messageExpiry = mqtt.wholeSeconds("message_expiry", q.messageExpiry)
        q.keepalive = mqtt.wholeSeconds("keepalive", q.keepalive)
        q.username = mqtt.optionalString("username", q.username)
        q.passwordFile = mqtt.optionalString("password_file", q.passwordFile)
        q.passwordEnv = mqtt.optionalString("password_env", q.passwordEnv)
        let tls = mqtt.section("tls")
        q.tls.enabled = tls.bool("enabled", q.tls.enabled)
        q.tls.caFile = tls.optionalString("ca_file", q.tls.caFile)
        q.tls.certFile = tls.optionalString("cert_file", q.tls.certFile)
        q.tls.keyFile = tls.optionalString("key_file", q.tls.keyFile)
        q.tls.insecure = tls.bool("insecure", q.tls.insecure)
        let spool = mqtt.section("spool")
        q.spool.dir = spool.string("dir", q.spool.dir)
        q.spool.maxBytes = spool.byteSize("max_bytes", q.spool.maxBytes)
        q.spool.memoryBytes = spool.byteSize("memory_bytes", q.spool.memoryBytes)
        q.spool.drainRate = spool.double("drain_rate", q.spool.drainRate)
        config.mqtt = q

        let metrics = root.section("metrics")
        config.metrics.port = metrics.int("port", config.metrics.port)
        config.metrics.address = metrics.string("address", config.metrics.address)

        let logging = root.section("logging")
        config.logging.level = logging.choice("level", config.logging.level)

        return config
    }
}
