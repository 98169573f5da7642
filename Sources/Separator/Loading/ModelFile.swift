// Loading layer: the demucs library's single-model safetensors file -> validated weights.
//
// This layer imports Foundation for `JSONSerialization` only (the safetensors header and the
// JSON of the constructor arguments in its metadata); the tensor and model layers do not.
import Foundation

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

    /// Reads a safetensors file. A minimal reader of the format (8-byte little-endian header
    /// length, JSON header, raw little-endian data) for F32/F16/BF16 tensors.
    static func read(path: String) throws -> ModelFileContents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SeparatorError("model file \(path): cannot be read")
        }
        return try decode([UInt8](data), path: path)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> ModelFileContents {
        func bad(_ why: String) -> SeparatorError { SeparatorError("model file \(path): \(why)") }
        guard bytes.count >= 8 else { throw bad("not a safetensors file (too short)") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= bytes.count - 8 else {
            throw bad("not a safetensors file (bad header length)")
        }
        let headerData = Data(bytes[8..<(8 + headerLength)])
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw bad("not a safetensors file (header is not a JSON object)")
        }
        let base = 8 + headerLength
        var tensors: [String: StoredTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let meta = entry as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in meta { if let s = v as? String { metadata[k] = s } }
                continue
            }
            guard let info = entry as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw bad("tensor \(name): malformed header entry") }
            let count = shape.reduce(1, *)
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw bad("tensor \(name): dtype \(dtype) is not float32/float16/bfloat16")
            }
            let start = base + offsets[0], end = base + offsets[1]
            guard offsets[0] >= 0, start <= end, end <= bytes.count, end - start == count * width else {
                throw bad("tensor \(name): data offsets do not fit its shape \(shape)")
            }
            var values = [Float](repeating: 0, count: count)
            bytes.withUnsafeBufferPointer { src in
                for i in 0..<count {
                    let p = start + i * width
                    switch dtype {
                    case "F32":
                        let bits = UInt32(src[p]) | UInt32(src[p + 1]) << 8 | UInt32(src[p + 2]) << 16 | UInt32(src[p + 3]) << 24
                        values[i] = Float(bitPattern: bits)
                    case "F16":
                        values[i] = Float(Float16(bitPattern: UInt16(src[p]) | UInt16(src[p + 1]) << 8))
                    default:
                        values[i] = Float(bitPattern: (UInt32(src[p]) | UInt32(src[p + 1]) << 8) << 16)
                    }
                }
            }
            tensors[name] = StoredTensor(shape: shape, values: values, dtype: dtype)
        }
        return ModelFileContents(tensors: tensors, metadata: metadata)
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
