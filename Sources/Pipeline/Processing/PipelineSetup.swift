import Foundation
import Separator

/// The separation model a pipeline runs, as `segment.json` and the MQTT properties name it.
public struct ModelIdentity: Sendable, Equatable {
    /// The model file's name (`demo.safetensors`), or nil without a model.
    public var name: String?
    /// The SHA-256 of the model file, or nil without a model.
    public var sha256: String?
}

/// Builds the pipeline's stages from the configuration once, for `process` and `run`.
public struct PipelineSetup: Sendable {
    /// The stages.
    public let processor: SegmentProcessor
    /// The model that runs (name and digest).
    public let model: ModelIdentity
    /// The noise profile's path (when stationary denoise uses one).
    public let noiseProfile: String?

    /// Loads the model and the noise profile named by `settings` for `channels` microphones.
    /// Every problem is one line naming the key or the file. `inputName` names the input in
    /// errors (a file or the capture device).
    public init(settings: PipelineSettings, channels: Int, inputName: String) throws(PipelineError) {
        var separator: SourceSeparator? = nil
        var model = ModelIdentity()
        if let path = settings.model, !path.isEmpty {
            do {
                separator = try SourceSeparator(modelPath: path, threads: settings.separatorThreads)
            } catch {
                throw PipelineError("separator.model: \(error)")
            }
            model = ModelIdentity(name: (path as NSString).lastPathComponent, sha256: FileDigest.sha256(path: path))
        }
        var clips: [[Float]]? = nil
        var profilePath: String? = nil
        if let denoise = settings.denoise, denoise.stationary, let path = settings.noiseProfile, !path.isEmpty {
            clips = try NoiseProfileFile.load(path: path, channels: channels, sampleRate: settings.sampleRate, inputName: inputName)
            profilePath = path
        }
        processor = try SegmentProcessor(settings: settings, channels: channels, noiseClips: clips, separator: separator)
        self.model = model
        self.noiseProfile = profilePath
    }

    /// The `segment.json` record of a processed segment.
    public func record(index: Int, firstSample: Int64, start: SegmentTime, frames: Int, overrun: Bool, origin: String) -> SegmentRecord {
        SegmentRecord(segmentIndex: index, firstSample: firstSample, start: start, sampleRate: processor.sampleRate,
                      frames: frames, channels: processor.channels, sources: processor.sources, model: model.name,
                      modelSHA256: model.sha256, noiseProfile: noiseProfile, denoise: processor.denoiseMode,
                      overrun: overrun, origin: origin)
    }
}
