// The effective settings as YAML (what `acoustic-edge check-config` prints). The text
// parses back to the same configuration; durations are in seconds, sizes in bytes.

extension AgentConfig {
    /// Every setting as YAML, in the layout of `config/acoustic-edge.yaml`, without comments.
    /// Unset paths are `null`; durations are seconds and sizes bytes.
    public var renderedYAML: String {
        var lines: [String] = []
        func section(_ name: String, _ indent: Int = 0) {
            lines.append(String(repeating: "  ", count: indent) + "\(name):")
        }
        func key(_ name: String, _ value: String, _ indent: Int = 1) {
            lines.append(String(repeating: "  ", count: indent) + "\(name): \(value)")
        }

        section("capture")
        key("source", capture.source.rawValue)
        key("device", quoted(capture.device))
        key("file", quoted(capture.file))
        key("channels", "\(capture.channels)")
        key("sample_rate", "\(capture.sampleRate)")
        key("segment_seconds", format(capture.segmentSeconds))
        key("loop", "\(capture.loop)")
        key("queue_depth", "\(capture.queueDepth)")

        section("denoise")
        key("enabled", "\(denoise.enabled)")
        key("noise_profile", quoted(denoise.noiseProfile))
        key("stationary", "\(denoise.stationary)")
        key("n_fft", "\(denoise.nFFT)")
        key("win_length", denoise.winLength.map { "\($0)" } ?? "null")
        key("hop_length", denoise.hopLength.map { "\($0)" } ?? "null")
        key("n_std_thresh_stationary", format(denoise.nStdThreshStationary))
        key("thresh_n_mult_nonstationary", format(denoise.threshNMultNonstationary))
        key("sigmoid_slope_nonstationary", format(denoise.sigmoidSlopeNonstationary))
        key("prop_decrease", format(denoise.propDecrease))
        key("time_mask_smooth_ms", format(denoise.timeMaskSmoothMs))
        key("freq_mask_smooth_hz", format(denoise.freqMaskSmoothHz))
        key("time_constant_s", format(denoise.timeConstantSeconds))
        key("clip_noise_stationary", "\(denoise.clipNoiseStationary)")
        key("chunk_size", "\(denoise.chunkSize)")
        key("padding", "\(denoise.padding)")

        section("separator")
        key("model", quoted(separator.model))
        key("threads", "\(separator.threads)")

        section("mel")
        key("n_mels", "\(mel.nMels)")
        key("frames", "\(mel.frames)")
        key("n_fft", "\(mel.nFFT)")
        key("top_db", format(mel.topDB))
        key("f_min", format(mel.fMin))
        key("f_max", mel.fMax.map(format) ?? "null")

        section("output")
        key("dir", quoted(output.dir))
        key("enabled", "\(output.enabled)")
        key("max_bytes", "\(output.maxBytes)")
        key("max_age", format(output.maxAge))

        section("mqtt")
        key("enabled", "\(mqtt.enabled)")
        key("host", quoted(mqtt.host))
        key("port", "\(mqtt.port)")
        key("client_id", quoted(mqtt.clientID))
        key("topic_prefix", quoted(mqtt.topicPrefix))
        key("qos", "\(mqtt.qos)")
        key("payload", mqtt.payload.rawValue)
        key("payload_dtype", mqtt.payloadDType.rawValue)
        key("message_expiry", "\(mqtt.messageExpiry)")
        key("keepalive", "\(mqtt.keepalive)")
        key("username", quoted(mqtt.username))
        key("password_file", quoted(mqtt.passwordFile))
        key("password_env", quoted(mqtt.passwordEnv))
        section("tls", 1)
        key("enabled", "\(mqtt.tls.enabled)", 2)
        key("ca_file", quoted(mqtt.tls.caFile), 2)
        key("cert_file", quoted(mqtt.tls.certFile), 2)
        key("key_file", quoted(mqtt.tls.keyFile), 2)
        key("insecure", "\(mqtt.tls.insecure)", 2)
        section("spool", 1)
        key("dir", quoted(mqtt.spool.dir), 2)
        key("max_bytes", "\(mqtt.spool.maxBytes)", 2)
        key("memory_bytes", "\(mqtt.spool.memoryBytes)", 2)
        key("drain_rate", format(mqtt.spool.drainRate), 2)

        section("metrics")
        key("port", "\(metrics.port)")
        key("address", quoted(metrics.address))

        section("logging")
        key("level", logging.level.rawValue)

        return lines.joined(separator: "\n") + "\n"
    }
}

/// A YAML double-quoted string (escapes for `"`, `\` and control characters), or `null`.
private func quoted(_ value: String?) -> String {
    guard let value else { return "null" }
    var text = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": text += "\\\""
        case "\\": text += "\\\\"
        case "\n": text += "\\n"
        case "\t": text += "\\t"
        case "\r": text += "\\r"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            text += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        default: text.unicodeScalars.append(scalar)
        }
    }
    return text + "\""
}
