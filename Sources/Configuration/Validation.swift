// The rules on values: ranges, and combinations of keys that cannot work together.
// Each rule names the key an operator has to change. docs/configuration.md lists them.

extension AgentConfig {
    /// Every rule the configuration breaks, in the order of the sections.
    func violations() -> [ConfigError] {
        var problems: [ConfigError] = []
        func refuse(_ key: String, _ reason: String) {
            problems.append(ConfigError(.invalidValue, key: key, reason))
        }

        // capture
        if capture.device.isEmpty { refuse("capture.device", "must not be empty (the ALSA PCM name, e.g. default or hw:1,0)") }
        if capture.source == .file && capture.file == nil {
            refuse("capture.source", "file needs capture.file, the audio file to replay")
        }
        if !(0...1024).contains(capture.channels) {
            refuse("capture.channels", "must be 0 (the device's maximum) to 1024, got \(capture.channels)")
        }
        let sampleRateValid = (1...1_000_000).contains(capture.sampleRate)
        if !sampleRateValid {
            refuse("capture.sample_rate", "must be a positive rate up to 1000000 Hz, got \(capture.sampleRate)")
        }
        let seconds = capture.segmentSeconds
        if !(seconds.isFinite && seconds > 0 && seconds <= 3600) {
            refuse("capture.segment_seconds", "must be more than 0 and at most 3600 seconds, got \(format(seconds))")
        } else if sampleRateValid {
            let samples = Double(capture.sampleRate) * seconds
            if abs(samples - samples.rounded()) > 1e-6 {
                refuse("capture.segment_seconds",
                       "\(format(seconds)) s at \(capture.sampleRate) Hz is not a whole number of samples")
            } else if mel.frames >= 2, Int(samples.rounded()) < mel.frames - 1 {
                refuse("capture.segment_seconds",
                       "a segment of \(Int(samples.rounded())) samples is too short for mel.frames \(mel.frames)")
            } else if mel.nFFT >= 2, Int(samples.rounded()) <= mel.nFFT / 2 {
                refuse("capture.segment_seconds",
                       "a segment of \(Int(samples.rounded())) samples is too short for mel.n_fft \(mel.nFFT)")
            }
        }
        if !(1...1000).contains(capture.queueDepth) {
            refuse("capture.queue_depth", "must be 1 to 1000 segments, got \(capture.queueDepth)")
        }

        // denoise
        if !(2...1 << 20).contains(denoise.nFFT) {
            refuse("denoise.n_fft", "must be 2 to 1048576, got \(denoise.nFFT)")
        }
        if let win = denoise.winLength, !(2...max(2, denoise.nFFT)).contains(win) {
            refuse("denoise.win_length", "must be 2 to n_fft (\(denoise.nFFT)) or null, got \(win)")
        }
        let window = denoise.effectiveWinLength
        if let hop = denoise.hopLength {
            if !(1...max(1, window)).contains(hop) {
                refuse("denoise.hop_length", "must be 1 to win_length (\(window)) or null, got \(hop)")
            }
        } else if window / 4 < 1 {
            refuse("denoise.win_length", "is too short for the default hop (win_length / 4 is 0): set hop_length")
        }
        if !denoise.nStdThreshStationary.isFinite {
            refuse("denoise.n_std_thresh_stationary", "must be a finite number")
        }
        if !(denoise.threshNMultNonstationary.isFinite && denoise.threshNMultNonstationary > 0) {
            refuse("denoise.thresh_n_mult_nonstationary", "must be more than 0, got \(format(denoise.threshNMultNonstationary))")
        }
        if !(denoise.sigmoidSlopeNonstationary.isFinite && denoise.sigmoidSlopeNonstationary > 0) {
            refuse("denoise.sigmoid_slope_nonstationary", "must be more than 0, got \(format(denoise.sigmoidSlopeNonstationary))")
        }
        if !(0...1).contains(denoise.propDecrease) {
            refuse("denoise.prop_decrease", "must be 0 to 1, got \(format(denoise.propDecrease))")
        }
        // The mask is smoothed over int(width / bin) bins and frames, as noisereduce computes
        // it; a width below one bin or one hop is refused there too.
        if !(denoise.timeMaskSmoothMs.isFinite && denoise.timeMaskSmoothMs >= 0) {
            refuse("denoise.time_mask_smooth_ms", "must be 0 or more milliseconds, got \(format(denoise.timeMaskSmoothMs))")
        } else if sampleRateValid, denoise.timeMaskSmoothMs > 0, denoise.effectiveHopLength >= 1,
                  denoise.timeMaskSmoothMs < denoise.hopMilliseconds(sampleRate: capture.sampleRate) {
            refuse("denoise.time_mask_smooth_ms",
                   "must be 0 (none) or at least one hop (\(Int(denoise.hopMilliseconds(sampleRate: capture.sampleRate))) ms), got \(format(denoise.timeMaskSmoothMs))")
        }
        if !(denoise.freqMaskSmoothHz.isFinite && denoise.freqMaskSmoothHz >= 0) {
            refuse("denoise.freq_mask_smooth_hz", "must be 0 or more hertz, got \(format(denoise.freqMaskSmoothHz))")
        } else if sampleRateValid, denoise.freqMaskSmoothHz > 0, denoise.nFFT >= 2,
                  denoise.freqMaskSmoothHz < denoise.binHertz(sampleRate: capture.sampleRate) {
            refuse("denoise.freq_mask_smooth_hz",
                   "must be 0 (none) or at least one frequency bin (\(Int(denoise.binHertz(sampleRate: capture.sampleRate))) Hz), got \(format(denoise.freqMaskSmoothHz))")
        }
        if !(denoise.timeConstantSeconds.isFinite && denoise.timeConstantSeconds > 0) {
            refuse("denoise.time_constant_s", "must be more than 0 seconds, got \(format(denoise.timeConstantSeconds))")
        }
        if denoise.chunkSize < 1 { refuse("denoise.chunk_size", "must be at least 1 sample, got \(denoise.chunkSize)") }
        if denoise.padding < 0 { refuse("denoise.padding", "must be 0 or more samples, got \(denoise.padding)") }

        // separator
        if !(0...1024).contains(separator.threads) {
            refuse("separator.threads", "must be 0 (one per core) to 1024, got \(separator.threads)")
        }

        // mel
        if !(1...4096).contains(mel.nMels) { refuse("mel.n_mels", "must be 1 to 4096 mel bands, got \(mel.nMels)") }
        if !(2...100_000).contains(mel.frames) { refuse("mel.frames", "must be 2 to 100000 frames, got \(mel.frames)") }
        if !(2...1 << 20).contains(mel.nFFT) { refuse("mel.n_fft", "must be 2 to 1048576, got \(mel.nFFT)") }
        if !(mel.topDB.isFinite && mel.topDB > 0) {
            refuse("mel.top_db", "must be more than 0 dB, got \(format(mel.topDB))")
        }
        let nyquist = Double(capture.sampleRate) / 2
        if !(mel.fMin.isFinite && mel.fMin >= 0) {
            refuse("mel.f_min", "must be 0 Hz or more, got \(format(mel.fMin))")
        } else if sampleRateValid && mel.fMin >= (mel.fMax ?? nyquist) {
            refuse("mel.f_min", "must be below f_max (\(format(mel.fMax ?? nyquist)) Hz), got \(format(mel.fMin))")
        }
        if let fMax = mel.fMax, !(fMax.isFinite && fMax > 0 && (!sampleRateValid || fMax <= nyquist)) {
            refuse("mel.f_max", "must be more than 0 and at most sample_rate / 2 (\(format(nyquist)) Hz) or null, got \(format(fMax))")
        }

        // output
        if output.dir.isEmpty { refuse("output.dir", "must not be empty (use . for the working directory)") }
        if output.maxBytes < 0 { refuse("output.max_bytes", "must be 0 (no limit) or more bytes, got \(output.maxBytes)") }
        if !(output.maxAge.isFinite && output.maxAge >= 0) {
            refuse("output.max_age", "must be 0 (keep forever) or more seconds, got \(format(output.maxAge))")
        }

        // mqtt
        if mqtt.host.isEmpty { refuse("mqtt.host", "must not be empty (the broker's host name or address)") }
        if !(1...65535).contains(mqtt.port) { refuse("mqtt.port", "must be 1 to 65535, got \(mqtt.port)") }
        if let id = mqtt.clientID, id.utf8.count > 65535 || id.contains("\u{0}") {
            refuse("mqtt.client_id", "must be at most 65535 bytes without NUL characters")
        }
        if let reason = Self.topicPrefixProblem(mqtt.topicPrefix) { refuse("mqtt.topic_prefix", reason) }
        if !(0...2).contains(mqtt.qos) { refuse("mqtt.qos", "must be 0, 1 or 2, got \(mqtt.qos)") }
        if !(5...65535).contains(mqtt.keepalive) {
            refuse("mqtt.keepalive", "must be 5 to 65535 seconds, got \(mqtt.keepalive)")
        }
        if mqtt.passwordFile != nil && mqtt.passwordEnv != nil {
            refuse("mqtt.password_env", "set either password_file or password_env, not both")
        }
        if mqtt.username == nil {
            if mqtt.passwordFile != nil { refuse("mqtt.password_file", "a password needs mqtt.username") }
            if mqtt.passwordEnv != nil { refuse("mqtt.password_env", "a password needs mqtt.username") }
        }
        if !mqtt.tls.enabled {
            for (key, isSet) in [("ca_file", mqtt.tls.caFile != nil), ("cert_file", mqtt.tls.certFile != nil),
                                 ("key_file", mqtt.tls.keyFile != nil), ("insecure", mqtt.tls.insecure)] where isSet {
                refuse("mqtt.tls.\(key)", "is set but mqtt.tls.enabled is false")
            }
        }
        if (mqtt.tls.certFile == nil) != (mqtt.tls.keyFile == nil) {
            refuse(mqtt.tls.certFile == nil ? "mqtt.tls.key_file" : "mqtt.tls.cert_file",
                   "a client certificate needs both cert_file and key_file")
        }
        if mqtt.spool.dir.isEmpty { refuse("mqtt.spool.dir", "must not be empty") }
        if !(0...Int(UInt32.max)).contains(mqtt.messageExpiry) {
            refuse("mqtt.message_expiry", "must be 0 (never) to \(UInt32.max) seconds, got \(mqtt.messageExpiry)")
        }
        if mqtt.spool.memoryBytes < 0 {
            refuse("mqtt.spool.memory_bytes", "must be 0 or more bytes, got \(mqtt.spool.memoryBytes)")
        }
        if !(mqtt.spool.drainRate >= 0) || !mqtt.spool.drainRate.isFinite {
            refuse("mqtt.spool.drain_rate", "must be 0 (unlimited) or a positive number of messages per second, got \(mqtt.spool.drainRate)")
        }
        if mqtt.spool.maxBytes < 1 {
            refuse("mqtt.spool.max_bytes", "must be more than 0 bytes (the spool is always bounded), got \(mqtt.spool.maxBytes)")
        }

        // metrics
        if !(0...65535).contains(metrics.port) { refuse("metrics.port", "must be 0 (off) to 65535, got \(metrics.port)") }
        if metrics.address.isEmpty { refuse("metrics.address", "must not be empty (0.0.0.0 = every interface)") }

        return problems
    }

    /// Why `prefix` cannot start MQTT topic names, or nil when it can: no wildcards (+, #),
    /// no empty level, no leading or trailing slash, no `$` first (reserved by brokers).
    static func topicPrefixProblem(_ prefix: String) -> String? {
        if prefix.isEmpty { return "must not be empty" }
        if prefix.contains("+") || prefix.contains("#") { return "must not contain the wildcards + or #, got '\(prefix)'" }
        if prefix.hasPrefix("$") { return "must not start with $ (reserved for the broker), got '\(prefix)'" }
        if prefix.hasPrefix("/") || prefix.hasSuffix("/") { return "must not start or end with /, got '\(prefix)'" }
        if prefix.contains("//") { return "must not contain an empty level (//), got '\(prefix)'" }
        if prefix.contains("\u{0}") { return "must not contain NUL characters" }
        return nil
    }
}

/// A number as an operator wrote it: `10` rather than `10.0`, otherwise Swift's shortest form.
func format(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return "\(value)"
}
