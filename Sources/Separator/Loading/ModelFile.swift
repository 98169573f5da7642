// Loading layer: the demucs library's single-model safetensors file -> validated weights.
//
// The safetensors container is read by TensorFormats; this layer imports Foundation for
// `JSONSerialization` of the constructor arguments in the metadata (ConfigParsing.swift) only;
// the tensor and model layers do not import Foundation.
import TensorFormats

/// Why a model file cannot be run; one line naming what does not fit.
public struct SeparatorError: Error, CustomStringConvertible, Sendable {
    /// The one-line reason.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A tensor read from the model file, converted to float32.
struct StoredTensor {
    var shape: [Int]
    var values: [Float]
    var dtype: String
}

/// The raw contents of a model file: its tensors and its `__metadata__` strings.
struct ModelFileContents {
    var tensors: [String: StoredTensor]
    var metadata: [String: String]

    /// Reads a safetensors file through TensorFormats (float16/bfloat16 converted to float32).
    static func read(path: String) throws -> ModelFileContents {
        do {
            let file = try SafeTensorsFormat.decode(try TensorFile.readBytes(path: path), what: "model file \(path)")
            var tensors: [String: StoredTensor] = [:]
            for (name, tensor) in file.tensors {
                tensors[name] = StoredTensor(shape: tensor.shape, values: tensor.values, dtype: file.dtypes[name] ?? "F32")
            }
            return ModelFileContents(tensors: tensors, metadata: file.metadata)
        } catch {
            throw SeparatorError(error.description)
        }
    }
}

/// The model's tensors, handed out once each after their shape is checked against what the
/// constructor arguments imply; `finish()` refuses tensors the model does not have.
final class WeightStore {
    private var tensors: [String: StoredTensor]
    private let path: String

    init(_ tensors: [String: StoredTensor], path: String) {
        self.tensors = tensors
        self.path = path
    }

    /// The tensor `name`, which must have `shape`.
    func take(_ name: String, _ shape: [Int]) throws -> Parameter {
        guard let t = tensors.removeValue(forKey: name) else {
            throw SeparatorError("model file \(path): missing tensor \(name) (expected shape \(shape))")
        }
        guard t.shape == shape else {
            throw SeparatorError("model file \(path): tensor \(name) has shape \(t.shape), the model's arguments need \(shape)")
        }
        return Parameter(shape: shape, values: t.values)
    }

    /// Refuses tensors left over (as `load_state_dict` does, strictly).
    func finish() throws {
        if let extra = tensors.keys.sorted().first {
            throw SeparatorError("model file \(path): unexpected tensor \(extra) for these model arguments")
        }
    }
}
