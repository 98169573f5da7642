import Configuration
import Control
import Foundation
import Logging
import MQTTBridge
import Pipeline
import TensorFormats

/// The agent's version, as `--version` prints it and the birth message carries it.
public enum AgentVersion {
    public static let current = "0.1.0"
}

/// The birth message retained on `{prefix}/meta` (Sparkplug's birth certificate idea): the
/// JSON a consumer sets itself up from before the first tensor. The bridge publishes it on
/// every (re)connection and waits for its PUBACK before the first tensor goes out, and again
/// when it changes (a model or noise profile after a reload or calibrate); this type only makes
/// the document from the running configuration and pipeline.
///
/// Keys: `version`, `birth_seq` (one more at every agent start: persisted in the spool
/// folder), `shape`, `dtype`, `payload`, `content_type`, `qos`, `message_expiry`,
/// `sample_rate`, `segment_seconds`, `mel` (torchaudio's parameters), `sources` (output order),
/// `microphones` (`{index, name, channel, topic}`: tensors of microphone i go to
/// `{topic}/{source}`), `model` (`{file, sha256}`, null without one), `denoise` (`{mode,
/// noise_profile}`), `topics` (status, cmd, response).
struct StreamMeta: Sendable {
    /// This run's birth sequence number.
    let birthSequence: Int

    /// The file in the spool folder that keeps the last birth sequence across starts.
    static let sequenceFile = "birth_seq"

    /// The next birth sequence for a run whose spool is `folder`: one more than the last
    /// start's (0 the first time), written back at once. A folder that cannot take it is
    /// logged (the number is then not persisted, and a later start may repeat it).
    static func nextBirthSequence(folder: String, logger: Logger) -> Int {
        let path = (folder as NSString).appendingPathComponent(sequenceFile)
        var next = 0
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if let last = Int(text), last >= 0 {
                next = last + 1
            } else {
                logger.warning("mqtt: \(path) does not hold a birth sequence number ('\(text.prefix(40))'); starting again at 0")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try TensorFile.writeAtomically(Array("\(next)\n".utf8), to: path)
        } catch {
            logger.warning("mqtt: cannot keep the birth sequence in \(path): \(error); birth_seq \(next) may repeat after a restart")
        }
        return next
    }

    /// The document for `config` running `setup`; nil while the pipeline is not built (its
    /// microphones are known once the capture has started).
    func document(config: AgentConfig, setup: PipelineSetup?, settings: MQTTSettings) -> String? {
        guard let setup else { return nil }
        let processor = setup.processor
        let mel = config.mel
        let segmentSamples = Int((Double(config.capture.sampleRate) * config.capture.segmentSeconds).rounded())
        let hop = segmentSamples / max(mel.frames - 1, 1)
        let microphones: [JSONValue] = (0..<processor.channels).map { index in
            .object([
                "index": .number(Double(index)),
                "name": .string("mic\(index)"),
                "channel": .number(Double(index)),
                "topic": .string("\(settings.topicPrefix)/mic\(index)"),
            ])
        }
        var model: JSONValue = .null
        if let file = setup.model.name {
            model = .object(["file": .string(file), "sha256": setup.model.sha256.map { .string($0) } ?? .null])
        }
        let dtype: PayloadDType = config.mqtt.payloadDType
        let document: [String: JSONValue] = [
            "version": .string(AgentVersion.current),
            "birth_seq": .number(Double(birthSequence)),
            "shape": .array([.number(1), .number(Double(mel.nMels)), .number(Double(mel.frames))]),
            "dtype": .string(dtype.rawValue),
            "payload": .string(config.mqtt.payload.name),
            "content_type": .string(config.mqtt.payload.mediaType),
            "qos": .number(Double(config.mqtt.qos)),
            "message_expiry": .number(Double(config.mqtt.messageExpiry)),
            "sample_rate": .number(Double(processor.sampleRate)),
            "segment_seconds": .number(config.capture.segmentSeconds),
            "mel": .object([
                "n_mels": .number(Double(mel.nMels)),
                "n_fft": .number(Double(mel.nFFT)),
                "hop": .number(Double(hop)),
                "frames": .number(Double(mel.frames)),
                "top_db": .number(mel.topDB),
                "f_min": .number(mel.fMin),
                "f_max": .number(mel.fMax ?? Double(processor.sampleRate) / 2),
                "mel_scale": .string("htk"),
                "power": .number(2),
                "center": .bool(true),
                "pad_mode": .string("reflect"),
                "norm": .null,
                "unit": .string("dB"),
            ]),
            "sources": .array(processor.sources.map { .string($0) }),
            "microphones": .array(microphones),
            "model": model,
            "denoise": .object([
                "mode": .string(processor.denoiseMode),
                "noise_profile": setup.noiseProfile.map { .string($0) } ?? .null,
            ]),
            "topics": .object([
                "status": .string(settings.statusTopic),
                "cmd": .string(settings.commandTopic),
                "response": .string(settings.commandResponseTopic),
            ]),
        ]
        return JSONValue.object(document).text
    }
}
