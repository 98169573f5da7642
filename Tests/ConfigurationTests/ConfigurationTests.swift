// ConfigurationTests: the YAML configuration of docs/contract.md: defaults, the example file, and
// every refusal (unknown key, wrong type, impossible value, broken file) with its key and line.
import Foundation
import Testing
import Yams
@testable import Configuration

/// The repository's root folder (three levels above this file).
private let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
}()

private let exampleFile = repositoryRoot.appendingPathComponent("config/acoustic-edge.yaml").path

/// The error `parse` throws for `yaml`, or nil when it accepts it.
private func refusal(_ yaml: String, file: String? = "agent.yaml") -> ConfigError? {
    do {
        _ = try AgentConfig.parse(yaml: yaml, file: file)
        return nil
    } catch {
        return error
    }
}

/// Every dotted key (leaves only) of a YAML mapping, for comparing key sets.
private func leafKeys(_ node: Node?, prefix: String = "") -> Set<String> {
    guard case let .mapping(mapping)? = node else { return [] }
    var keys: Set<String> = []
    for (key, value) in mapping {
        let name = prefix.isEmpty ? key.string! : "\(prefix).\(key.string!)"
        if case .mapping = value { keys.formUnion(leafKeys(value, prefix: name)) } else { keys.insert(name) }
    }
    return keys
}

@Suite struct Defaults {
    @Test func defaultsAreThoseOfTheSpec() {
        let config = AgentConfig()
        #expect(config.capture.source == .alsa)
        #expect(config.capture.device == "default")
        #expect(config.capture.channels == 0)
        #expect(config.capture.sampleRate == 16000)
        #expect(config.capture.segmentSeconds == 10)
        #expect(config.capture.segmentSamples == 160_000)
        #expect(config.capture.loop == false)
        #expect(config.denoise.stationary == true)
        #expect(config.separator.model == nil)
        #expect(config.mel.nMels == 240 && config.mel.frames == 240 && config.mel.nFFT == 2048)
        #expect(config.mel.topDB == 80 && config.mel.fMin == 0 && config.mel.fMax == nil)
        #expect(config.output.dir == "output" && config.output.enabled)
        #expect(config.mqtt.topicPrefix == "plant" && config.mqtt.qos == 1 && config.mqtt.payload == .pt)
        #expect(config.mqtt.port == 1883 && config.mqtt.host == "127.0.0.1")
        #expect(config.metrics.port == 0)
        #expect(throws: Never.self) { try config.validate() }
    }

    /// noisereduce 3.0.3's own defaults, read from the library's signature.
    @Test func denoiseDefaultsAreNoisereduces() {
        let d = DenoiseConfig()
        #expect(d.nFFT == 1024 && d.winLength == nil && d.hopLength == nil)
        #expect(d.effectiveWinLength == 1024 && d.effectiveHopLength == 256)
        #expect(d.nStdThreshStationary == 1.5 && d.threshNMultNonstationary == 2)
        #expect(d.sigmoidSlopeNonstationary == 10 && d.propDecrease == 1.0)
        #expect(d.timeMaskSmoothMs == 50 && d.freqMaskSmoothHz == 500 && d.timeConstantSeconds == 2.0)
        #expect(d.clipNoiseStationary && d.chunkSize == 600_000 && d.padding == 30_000)
    }

    @Test func exampleFileLoadsAndEqualsTheDefaults() throws {
        let config = try AgentConfig.load(path: exampleFile)
        #expect(config == AgentConfig())
    }

    /// The example documents every key the agent reads, and no other.
    @Test func exampleFileHasEveryKey() throws {
        let text = try String(contentsOfFile: exampleFile, encoding: .utf8)
        let documented = leafKeys(try Yams.compose(yaml: text))
        let known = leafKeys(try Yams.compose(yaml: AgentConfig().renderedYAML))
        #expect(documented == known)
        #expect(known.count >= 50)
    }

    @Test(arguments: ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
    func emptyFileMeansEveryDefault(_ yaml: String) throws {
        #expect(try AgentConfig.parse(yaml: yaml) == AgentConfig())
    }

    @Test func emptySectionsMeanDefaults() throws {
        #expect(try AgentConfig.parse(yaml: "capture:\nmqtt:\n  tls: ~\n") == AgentConfig())
    }
}

@Suite struct Values {
    @Test func everyKeyIsRead() throws {
        let yaml = """
            capture: {source: file, device: "hw:1,0", file: in.wav, channels: 8, sample_rate: 48000,
                      segment_seconds: 2.5, loop: yes, queue_depth: 2}
            denoise: {enabled: false, noise_profile: noise.pt, stationary: false, n_fft: 512,
                      win_length: 400, hop_length: 100, n_std_thresh_stationary: 2.5,
                      thresh_n_mult_nonstationary: 3, sigmoid_slope_nonstationary: 20, prop_decrease: 0.5,
                      time_mask_smooth_ms: 0, freq_mask_smooth_hz: 250, time_constant_s: 1.5,
                      clip_noise_stationary: false, chunk_size: 1000, padding: 0}
            separator: {model: models/plant.safetensors, threads: 2}
            mel: {n_mels: 128, frames: 100, n_fft: 1024, top_db: 60.5, f_min: 20, f_max: 8000}
            output: {dir: /var/lib/ae, enabled: false, max_bytes: 500MB, max_age: 7d}
            mqtt:
              enabled: false
              host: broker.plant.local
              port: 8883
              client_id: node7
              topic_prefix: plant/line3/node7
              qos: 2
              payload: safetensors
              keepalive: 2m
              username: agent
              password_env: AE_MQTT_PASSWORD
              tls: {enabled: true, ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, insecure: true}
              spool: {dir: /var/spool/ae, max_bytes: 2GiB}
            metrics: {port: 9100, address: 127.0.0.1}
            logging: {level: debug}
            """
        let c = try AgentConfig.parse(yaml: yaml)
        var e = AgentConfig()
        e.capture.source = .file; e.capture.device = "hw:1,0"; e.capture.file = "in.wav"
        e.capture.channels = 8; e.capture.sampleRate = 48000; e.capture.segmentSeconds = 2.5
        e.capture.loop = true; e.capture.queueDepth = 2
        e.denoise.enabled = false; e.denoise.noiseProfile = "noise.pt"; e.denoise.stationary = false
        e.denoise.nFFT = 512; e.denoise.winLength = 400; e.denoise.hopLength = 100
        e.denoise.nStdThreshStationary = 2.5; e.denoise.threshNMultNonstationary = 3
        e.denoise.sigmoidSlopeNonstationary = 20; e.denoise.propDecrease = 0.5
        e.denoise.timeMaskSmoothMs = 0; e.denoise.freqMaskSmoothHz = 250; e.denoise.timeConstantSeconds = 1.5
        e.denoise.clipNoiseStationary = false; e.denoise.chunkSize = 1000; e.denoise.padding = 0
        e.separator.model = "models/plant.safetensors"; e.separator.threads = 2
        e.mel.nMels = 128; e.mel.frames = 100; e.mel.nFFT = 1024; e.mel.topDB = 60.5
        e.mel.fMin = 20; e.mel.fMax = 8000
        e.output.dir = "/var/lib/ae"; e.output.enabled = false; e.output.maxBytes = 500_000_000
        e.output.maxAge = 7 * 86_400
        e.mqtt.enabled = false; e.mqtt.host = "broker.plant.local"; e.mqtt.port = 8883
        e.mqtt.clientID = "node7"; e.mqtt.topicPrefix = "plant/line3/node7"; e.mqtt.qos = 2
        e.mqtt.payload = .safetensors; e.mqtt.keepalive = 120; e.mqtt.username = "agent"
        e.mqtt.passwordEnv = "AE_MQTT_PASSWORD"
        e.mqtt.tls.enabled = true; e.mqtt.tls.caFile = "ca.pem"; e.mqtt.tls.certFile = "c.pem"
        e.mqtt.tls.keyFile = "k.pem"; e.mqtt.tls.insecure = true
        e.mqtt.spool.dir = "/var/spool/ae"; e.mqtt.spool.maxBytes = 2 << 30
        e.metrics.port = 9100; e.metrics.address = "127.0.0.1"
        e.logging.level = .debug
        #expect(c == e)
        // The effective settings printed by check-config parse back to the same values.
        #expect(try AgentConfig.parse(yaml: c.renderedYAML) == c)
    }

    @Test func renderedStringsSurviveQuotingAndEscapes() throws {
        var config = AgentConfig()
        config.capture.device = "plughw:CARD=\"X\",DEV=0 # not a comment"
        config.output.dir = "C:\\data\ttabbed"
        config.mqtt.username = "yes"
        #expect(try AgentConfig.parse(yaml: config.renderedYAML) == config)
    }

    @Test func emptyStringMeansUnsetForPaths() throws {
        let c = try AgentConfig.parse(yaml: "separator: {model: \"\"}\ndenoise: {noise_profile: ''}\n")
        #expect(c.separator.model == nil && c.denoise.noiseProfile == nil)
    }

    @Test(arguments: [("90", 90.0), ("\"30s\"", 30), ("15m", 900), ("12h", 43_200), ("1h30m", 5400),
                      ("1.5d", 129_600), ("2w", 1_209_600), ("500ms", 0.5), ("0", 0)])
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(try AgentConfig.parse(yaml: "output: {max_age: \(text)}").output.maxAge == seconds)
    }

    @Test(arguments: [("0", 0), ("1048576", 1_048_576), ("500MB", 500_000_000), ("\"2 GiB\"", 2 << 30),
                      ("1.5G", 1_500_000_000), ("64kib", 65_536), ("10k", 10_000), ("7B", 7)])
    func sizes(_ text: String, _ bytes: Int) throws {
        #expect(try AgentConfig.parse(yaml: "output: {max_bytes: \(text)}").output.maxBytes == bytes)
    }
}

@Suite struct Refusals {
    @Test func typoNamesTheKeyItsLineAndTheFix() throws {
        let error = try #require(refusal("capture:\n  device: default\n  sample_rat: 48000\n"))
        #expect(error.kind == .unknownKey)
        #expect(error.key == "capture.sample_rat")
        #expect(error.line == 3)
        #expect(error.description == "agent.yaml:3: capture.sample_rat: unknown key 'sample_rat' (did you mean 'capture.sample_rate'?)")
    }

    @Test func typoInASectionName() throws {
        let error = try #require(refusal("mqt:\n  host: x\n"))
        #expect(error.kind == .unknownKey && error.key == "mqt" && error.line == 1)
        #expect(error.reason.contains("did you mean 'mqtt'?"))
    }

    @Test func typoInANestedSection() throws {
        let error = try #require(refusal("mqtt:\n  tls:\n    enabled: true\n    ca_fil: ca.pem\n"))
        #expect(error.key == "mqtt.tls.ca_fil" && error.line == 4)
        #expect(error.reason.contains("did you mean 'mqtt.tls.ca_file'?"))
    }

    @Test func camelCaseIsSuggestedItsSnakeCase() throws {
        let error = try #require(refusal("mel:\n  topDb: 80\n"))
        #expect(error.reason.contains("did you mean 'mel.top_db'?"))
    }

    @Test func keyInTheWrongSection() throws {
        let error = try #require(refusal("mqtt:\n  n_mels: 128\n"))
        #expect(error.key == "mqtt.n_mels")
        #expect(error.reason.contains("belongs elsewhere: 'mel.n_mels'"))
    }

    @Test func farOffKeyListsTheKnownOnes() throws {
        let error = try #require(refusal("metrics:\n  zzzzzzzz: 1\n"))
        #expect(error.reason == "unknown key 'zzzzzzzz'; known here: metrics.port, metrics.address")
    }

    @Test(arguments: [
        ("capture:\n  sample_rate: fast\n", "capture.sample_rate", "expected an integer, got the string 'fast'"),
        ("capture:\n  sample_rate: 16000.5\n", "capture.sample_rate", "expected an integer, got the number 16000.5"),
        ("capture:\n  sample_rate:\n", "capture.sample_rate", "needs a value (an integer)"),
        ("capture:\n  loop: 3\n", "capture.loop", "expected true or false, got the integer 3"),
        ("capture:\n  device: 123\n", "capture.device", "expected a string, got the integer 123 (quote it to mean text)"),
        ("capture:\n  device: [a, b]\n", "capture.device", "expected a string, got a list"),
        ("capture:\n  source: pulse\n", "capture.source", "expected alsa or file, got the string 'pulse'"),
        ("mqtt:\n  payload: json\n", "mqtt.payload", "expected pt, safetensors or npy, got the string 'json'"),
        ("mqtt:\n  port: \"1883\"\n", "mqtt.port", "expected an integer, got the string '1883'"),
        ("mqtt: 5\n", "mqtt", "expected a section (a mapping of keys), got the integer 5"),
        ("mqtt:\n  tls: true\n", "mqtt.tls", "expected a section (a mapping of keys), got the boolean true"),
        ("mel:\n  top_db: loud\n", "mel.top_db", "expected a number, got the string 'loud'"),
        ("mel:\n  f_max: high\n", "mel.f_max", "expected a number or null, got the string 'high'"),
        ("output:\n  max_age: -5s\n", "output.max_age", "expected seconds or a duration like 30s, 15m, 12h, 7d, got the string '-5s'"),
        ("output:\n  max_age: 5 fortnights\n", "output.max_age", "expected seconds or a duration like 30s, 15m, 12h, 7d, got the string '5 fortnights'"),
        ("output:\n  max_bytes: lots\n", "output.max_bytes", "expected bytes or a size like 500MB, 2GiB, got the string 'lots'"),
        ("mqtt:\n  keepalive: 1.5\n", "mqtt.keepalive", "expected whole seconds or a duration like 30s, 2m, got the number 1.5"),
        ("logging:\n  level: verbose\n", "logging.level", "expected trace, debug, info, notice, warning, error or critical, got the string 'verbose'"),
    ])
    func wrongType(_ yaml: String, _ key: String, _ reason: String) throws {
        let error = try #require(refusal(yaml))
        #expect(error.kind == .wrongType)
        #expect(error.key == key)
        #expect(error.reason == reason)
        #expect(error.line != nil)
    }

    @Test(arguments: [
        ("capture:\n  sample_rate: 0\n", "capture.sample_rate"),
        ("capture:\n  sample_rate: -16000\n", "capture.sample_rate"),
        ("capture:\n  channels: -1\n", "capture.channels"),
        ("capture:\n  segment_seconds: 0\n", "capture.segment_seconds"),
        ("capture:\n  segment_seconds: -10\n", "capture.segment_seconds"),
        ("capture:\n  segment_seconds: .inf\n", "capture.segment_seconds"),
        ("capture:\n  segment_seconds: 0.00001\n", "capture.segment_seconds"),
        ("capture:\n  segment_seconds: 0.01\n", "capture.segment_seconds"),
        ("capture:\n  queue_depth: 0\n", "capture.queue_depth"),
        ("capture:\n  source: file\n", "capture.source"),
        ("capture:\n  device: ''\n", "capture.device"),
        ("denoise:\n  n_fft: 0\n", "denoise.n_fft"),
        ("denoise:\n  win_length: 2048\n", "denoise.win_length"),
        ("denoise:\n  win_length: 3\n", "denoise.win_length"),
        ("denoise:\n  hop_length: 0\n", "denoise.hop_length"),
        ("denoise:\n  prop_decrease: 1.5\n", "denoise.prop_decrease"),
        ("denoise:\n  prop_decrease: .nan\n", "denoise.prop_decrease"),
        ("denoise:\n  time_constant_s: 0\n", "denoise.time_constant_s"),
        ("denoise:\n  freq_mask_smooth_hz: -1\n", "denoise.freq_mask_smooth_hz"),
        ("denoise:\n  chunk_size: 0\n", "denoise.chunk_size"),
        ("denoise:\n  padding: -1\n", "denoise.padding"),
        ("separator:\n  threads: -2\n", "separator.threads"),
        ("mel:\n  n_mels: 0\n", "mel.n_mels"),
        ("mel:\n  frames: 1\n", "mel.frames"),
        ("mel:\n  n_fft: 0\n", "mel.n_fft"),
        ("mel:\n  top_db: 0\n", "mel.top_db"),
        ("mel:\n  top_db: -80\n", "mel.top_db"),
        ("mel:\n  f_min: -1\n", "mel.f_min"),
        ("mel:\n  f_min: 9000\n", "mel.f_min"),
        ("mel:\n  f_max: 8001\n", "mel.f_max"),
        ("output:\n  dir: ''\n", "output.dir"),
        ("output:\n  max_bytes: -1\n", "output.max_bytes"),
        ("output:\n  max_age: -60\n", "output.max_age"),
        ("mqtt:\n  port: 0\n", "mqtt.port"),
        ("mqtt:\n  port: 70000\n", "mqtt.port"),
        ("mqtt:\n  qos: 3\n", "mqtt.qos"),
        ("mqtt:\n  qos: -1\n", "mqtt.qos"),
        ("mqtt:\n  host: ''\n", "mqtt.host"),
        ("mqtt:\n  keepalive: 2\n", "mqtt.keepalive"),
        ("mqtt:\n  topic_prefix: plant/#\n", "mqtt.topic_prefix"),
        ("mqtt:\n  topic_prefix: plant/+/x\n", "mqtt.topic_prefix"),
        ("mqtt:\n  topic_prefix: /plant\n", "mqtt.topic_prefix"),
        ("mqtt:\n  topic_prefix: plant//x\n", "mqtt.topic_prefix"),
        ("mqtt:\n  topic_prefix: $SYS\n", "mqtt.topic_prefix"),
        ("mqtt:\n  topic_prefix: ''\n", "mqtt.topic_prefix"),
        ("mqtt:\n  username: u\n  password_file: p\n  password_env: P\n", "mqtt.password_env"),
        ("mqtt:\n  password_file: p\n", "mqtt.password_file"),
        ("mqtt:\n  tls:\n    ca_file: ca.pem\n", "mqtt.tls.ca_file"),
        ("mqtt:\n  tls:\n    enabled: true\n    cert_file: c.pem\n", "mqtt.tls.cert_file"),
        ("mqtt:\n  tls:\n    enabled: true\n    key_file: k.pem\n", "mqtt.tls.key_file"),
        ("mqtt:\n  spool:\n    max_bytes: 0\n", "mqtt.spool.max_bytes"),
        ("mqtt:\n  spool:\n    drain_rate: -1\n", "mqtt.spool.drain_rate"),
        ("mqtt:\n  spool:\n    drain_rate: .nan\n", "mqtt.spool.drain_rate"),
        ("mqtt:\n  spool:\n    memory_bytes: -1\n", "mqtt.spool.memory_bytes"),
        ("mqtt:\n  message_expiry: -5\n", "mqtt.message_expiry"),
        ("mqtt:\n  message_expiry: 4294967296\n", "mqtt.message_expiry"),
        ("metrics:\n  port: -1\n", "metrics.port"),
        ("metrics:\n  port: 65536\n", "metrics.port"),
    ])
    func impossibleValue(_ yaml: String, _ key: String) throws {
        let error = try #require(refusal(yaml))
        #expect(error.kind == .invalidValue)
        #expect(error.key == key)
        #expect(error.line == yaml.split(separator: "\n").count)
        #expect(error.description.hasPrefix("agent.yaml:\(error.line!): \(key): "))
    }

    @Test func integerOutOfRange() throws {
        let error = try #require(refusal("capture:\n  channels: 99999999999999999999\n"))
        #expect(error.key == "capture.channels" && error.line == 2)
        #expect(error.reason == "the integer 99999999999999999999 is out of range")
    }

    @Test func impossibleValueMessages() throws {
        #expect(refusal("mqtt:\n  qos: 3\n")?.description == "agent.yaml:2: mqtt.qos: must be 0, 1 or 2, got 3")
        #expect(refusal("mel:\n  n_mels: 0\n")?.description == "agent.yaml:2: mel.n_mels: must be 1 to 4096 mel bands, got 0")
        #expect(refusal("capture:\n  sample_rate: -1\n")?.reason == "must be a positive rate up to 1000000 Hz, got -1")
        #expect(refusal("mel:\n  f_max: 9000\n")?.reason == "must be more than 0 and at most sample_rate / 2 (8000 Hz) or null, got 9000")
        #expect(refusal("capture:\n  segment_seconds: 0.00001\n")?.reason == "1e-05 s at 16000 Hz is not a whole number of samples")
        #expect(refusal("mqtt:\n  spool:\n    drain_rate: -2\n")?.description
                == "agent.yaml:3: mqtt.spool.drain_rate: must be 0 (unlimited) or a positive number of messages per second, got -2.0")
        #expect(refusal("mqtt:\n  payload_dtype: bfloat16\n")?.description
                == "agent.yaml:2: mqtt.payload_dtype: expected float32 or float16, got the string 'bfloat16'")
    }

    @Test func valuesAtTheirLimitsAreAccepted() throws {
        let c = try AgentConfig.parse(yaml: """
            capture: {sample_rate: 8000, segment_seconds: 0.5, channels: 1024}
            mel: {f_max: 4000, n_mels: 1, frames: 2}
            mqtt: {port: 65535, qos: 0, keepalive: 5, topic_prefix: a/b/c}
            metrics: {port: 65535}
            denoise: {prop_decrease: 0, win_length: 1024, hop_length: 1}
            output: {max_bytes: 0, max_age: 0}
            """)
        #expect(c.capture.segmentSamples == 4000)
    }

    @Test func theFirstProblemInTheFileIsReported() throws {
        let error = try #require(refusal("mel:\n  n_mels: 0\nmqtt:\n  qos: 3\n  hots: x\n"))
        #expect(error.key == "mqtt.hots")  // unknown keys and types come before values
        let second = try #require(refusal("mqtt:\n  qos: 3\nmel:\n  n_mels: 0\n"))
        #expect(second.key == "mqtt.qos" && second.line == 2)
        let third = try #require(refusal("mel:\n  n_mels: x\nmqtt:\n  qoss: 1\n"))
        #expect(third.key == "mel.n_mels" && third.line == 2)
    }

    @Test(arguments: [
        ("capture:\n  sample_rate: [16000\n", 3),
        ("capture:\n\tsample_rate: 16000\n", 2),
        ("capture:\n  device: \"unterminated\n", 3),
        ("capture: {a: 1\n", 2),
        ("a: 1\n b: 2\n", 2),
    ])
    func yamlSyntaxErrorHasItsLine(_ yaml: String, _ line: Int) throws {
        let error = try #require(refusal(yaml))
        #expect(error.kind == .syntax)
        #expect(error.line == line)
        #expect(error.reason.hasPrefix("invalid YAML: "))
        #expect(!error.description.contains("\n"))
    }

    @Test func duplicateKeyIsRefused() throws {
        let error = try #require(refusal("mqtt:\n  qos: 1\n  qos: 2\n"))
        #expect(error.kind == .syntax && error.reason.contains("duplicate key 'qos'"))
        #expect(error.line != nil)
    }

    @Test func topLevelMustBeAMapping() throws {
        for yaml in ["- capture\n- mqtt\n", "hello\n", "42\n"] {
            let error = try #require(refusal(yaml))
            #expect(error.kind == .wrongType && error.key == nil)
            #expect(error.reason.hasPrefix("the file must be a mapping of sections"))
        }
    }

    @Test func secondDocumentIsRefused() throws {
        let error = try #require(refusal("capture: {}\n---\nmqtt: {}\n"))
        #expect(error.kind == .syntax)
    }

    @Test func userTextStaysOnOneLine() throws {
        let error = try #require(refusal("mqtt:\n  topic_prefix: \"a\\n#b\"\n"))
        #expect(!error.description.contains("\n"))
        let unknown = try #require(refusal("\"bad\\nkey\": 1\n"))
        #expect(unknown.kind == .unknownKey && !unknown.description.contains("\n"))
    }

    @Test func validateChecksAConfigurationBuiltInCode() {
        var config = AgentConfig()
        config.mel.nMels = 0
        #expect(throws: ConfigError(.invalidValue, key: "mel.n_mels", "must be 1 to 4096 mel bands, got 0")) {
            try config.validate()
        }
    }
}

@Suite struct Files {
    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("acoustic-edge-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func missingFile() throws {
        let path = "/nonexistent/acoustic-edge.yaml"
        #expect(throws: ConfigError(.fileNotFound, key: nil, "no such configuration file", file: path)) {
            try AgentConfig.load(path: path)
        }
        do { _ = try AgentConfig.load(path: path) } catch {
            #expect(error.description == "/nonexistent/acoustic-edge.yaml: no such configuration file")
        }
    }

    @Test func folderIsRefused() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: ConfigError(.unreadable, key: nil, "is a folder, not a configuration file", file: folder.path)) {
            try AgentConfig.load(path: folder.path)
        }
    }

    @Test func notUTF8IsRefused() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.yaml")
        try Data([0x6D, 0x65, 0x6C, 0x3A, 0xFF, 0xFE, 0x0A]).write(to: file)
        #expect(throws: ConfigError(.unreadable, key: nil, "is not UTF-8 text", file: file.path)) {
            try AgentConfig.load(path: file.path)
        }
    }

    @Test func emptyFileLoadsAsDefaults() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("empty.yaml")
        try Data().write(to: file)
        #expect(try AgentConfig.load(path: file.path) == AgentConfig())
    }

    @Test func errorsFromAFileNameTheFileAndLine() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("site.yaml")
        try "# site\nmel:\n  n_mels: 240\n  n_mel: 3\n".write(to: file, atomically: true, encoding: .utf8)
        do {
            _ = try AgentConfig.load(path: file.path)
            Issue.record("accepted a typo")
        } catch {
            #expect(error.description == "\(file.path):4: mel.n_mel: unknown key 'n_mel' (did you mean 'mel.n_mels'?)")
        }
    }
}

@Suite struct Documentation {
    private var page: String {
        get throws {
            try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        }
    }

    /// Every YAML example of docs/configuration.md is a valid configuration.
    @Test func examplesInTheDocsAreValid() throws {
        let blocks = try page.components(separatedBy: "```yaml\n").dropFirst()
            .map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count >= 2)
        for block in blocks {
            #expect(throws: Never.self) { try AgentConfig.parse(yaml: block, file: "docs example") }
        }
    }

    /// Every key has a row in the reference tables (`| `key` |`, nested keys as `tls.ca_file`).
    @Test func everyKeyIsDocumented() throws {
        let text = try page
        for key in leafKeys(try Yams.compose(yaml: AgentConfig().renderedYAML)) {
            let parts = key.split(separator: ".")
            let row = "| `" + parts.dropFirst().joined(separator: ".") + "` |"
            #expect(text.contains(row), "docs/configuration.md has no row for \(key)")
        }
    }
}

@Suite struct UnitParsing {
    @Test func durationParser() {
        #expect(Units.seconds(fromDuration: "1h30m") == 5400)
        #expect(Units.seconds(fromDuration: " 45 ") == 45)
        #expect(Units.seconds(fromDuration: "250ms") == 0.25)
        for bad in ["", "h", "5x", "5 m", "-5s", "1h-30m", "s5"] {
            #expect(Units.seconds(fromDuration: bad) == nil, "\(bad)")
        }
    }

    @Test func sizeParser() {
        #expect(Units.bytes(fromSize: "256MiB") == 268_435_456)
        #expect(Units.bytes(fromSize: "1 TB") == 1_000_000_000_000)
        for bad in ["", "MB", "5 XB", "-5MB", "1e30", "99999999999TB"] {
            #expect(Units.bytes(fromSize: bad) == nil, "\(bad)")
        }
    }

    @Test func suggestions() {
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
        #expect(Suggestion.closest(to: "sample_rat", among: ["sample_rate", "source"]) == "sample_rate")
        #expect(Suggestion.closest(to: "qos", among: ["port", "host"]) == nil)
    }
}
