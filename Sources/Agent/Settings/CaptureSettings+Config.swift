import Capture
import Configuration

extension CaptureSettings {
    /// The capture settings of the configuration's `capture:` section (`run`, `calibrate` and
    /// the agent's MQTT `calibrate` all start from these). With `source: file`, `capture.file`
    /// is set (the configuration refuses it missing).
    init(config: CaptureConfig) {
        let source: Source
        switch config.source {
        case .alsa: source = .alsa(device: config.device)
        case .file: source = .file(path: config.file ?? "")
        }
        self.init(source: source, channels: config.channels, sampleRate: config.sampleRate,
                  segmentFrames: config.segmentSamples, queueDepth: config.queueDepth,
                  loop: config.loop, realtime: true)
    }
}
