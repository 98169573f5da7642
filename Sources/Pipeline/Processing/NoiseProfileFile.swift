import AudioFiles
import Foundation
import TensorFormats

/// Reads the site's noise profile for the denoise stage (`denoise.noise_profile`,
/// `denoise --noise`): a tensor file `[channels, samples]` or `[samples]` (`.pt` as the original
/// prototype saved it with `torch.save`, `.safetensors`, `.npy`) or an audio file.
public enum NoiseProfileFile {
    /// One noise clip per microphone of an input with `channels` channels at `sampleRate`.
    ///
    /// A mono profile serves every channel; a profile with fewer channels than the input (but
    /// more than one) is refused naming both counts; extra profile channels are ignored. A rate
    /// that differs from the input's is refused (audio files, and safetensors files whose
    /// metadata names a `sample_rate`, as `calibrate` writes; `.pt`/`.npy` carry no rate and are
    /// taken as recorded at the input's rate). `inputName` names the input in errors.
    public static func load(path: String, channels: Int, sampleRate: Int, inputName: String) throws(PipelineError) -> [[Float]] {
        let ext = (path as NSString).pathExtension.lowercased()
        var rate: Int? = nil
        var clips: [[Float]]
        do {
            if let format = TensorFormat(pathExtension: ext) {
                let tensor: Tensor
                if format == .safetensors {
                    let file = try SafeTensorsFormat.decode(try TensorFile.readBytes(path: path), what: path)
                    guard file.names.count == 1, let only = file.tensors[file.names[0]] else {
                        throw PipelineError("\(path): a noise profile holds one tensor, this file has \(file.names.count)")
                    }
                    tensor = only
                    if let text = file.metadata["sample_rate"] {
                        guard let value = Int(text) else { throw PipelineError("\(path): metadata sample_rate '\(text)' is not a number") }
                        rate = value
                    }
                } else {
                    tensor = try TensorFile.read(path: path)
                }
                switch tensor.shape.count {
                case 1:
                    clips = [tensor.values]
                case 2:
                    let (c, n) = (tensor.shape[0], tensor.shape[1])
                    clips = (0..<c).map { Array(tensor.values[($0 * n)..<(($0 + 1) * n)]) }
                default:
                    throw PipelineError("\(path): a noise profile is [channels, samples] or [samples], not \(tensor.shape)")
                }
            } else {
                let buffer = try AudioFile.read(path: path)
                rate = buffer.sampleRate
                clips = buffer.channelData
            }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError("noise profile: \(error)")
        }
        if let rate, rate != sampleRate {
            throw PipelineError("noise profile \(path) is at \(rate) Hz but \(inputName) is at \(sampleRate) Hz")
        }
        guard let first = clips.first, !first.isEmpty else {
            throw PipelineError("\(path): the noise profile holds no samples")
        }
        if clips.count == 1 { return Array(repeating: first, count: channels) }
        guard clips.count >= channels else {
            throw PipelineError("noise profile \(path) has \(clips.count) channels but \(inputName) has \(channels); give one per channel or a mono profile")
        }
        return Array(clips.prefix(channels))
    }
}
