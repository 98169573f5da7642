import Foundation

/// The contents of a safetensors file: its tensors (converted to float32), their stored
/// element types, and the free-form `__metadata__` strings.
public struct SafeTensorsFile: Sendable {
    /// The `__metadata__` map (empty when absent).
    public var metadata: [String: String]
    /// The tensors by name, converted to float32.
    public var tensors: [String: Tensor]
    /// The stored element type of each tensor, as the file names it ("F32", "F16", ...).
    public var dtypes: [String: String]
    /// The tensor names in the order of their data in the file.
    public var names: [String]
}

/// The safetensors format (an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data), as the
/// `safetensors` library writes and reads it. Written here because no Debian or Swift package
/// provides it; JSON goes through Foundation.
public enum SafeTensorsFormat {
    /// The bytes of a safetensors file holding `entries` as float32 (or float16 with
    /// `dtype: .float16`), in order, with `metadata`.
    public static func encode(_ entries: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                              dtype: TensorElementType = .float32) -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        let width = dtype == .float16 ? 2 : 4
        for entry in entries {
            let size = entry.tensor.values.count * width
            header[entry.name] = ["dtype": dtype == .float16 ? "F16" : "F32", "shape": entry.tensor.shape,
                                  "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var out = frame(header: header, dataBytes: offset)
        for entry in entries { out.appendFloats(entry.tensor.values, as: dtype) }
        return out
    }

    /// The bytes of safetensors file `bytes` with `extra` merged into its `__metadata__` (an
    /// existing key is replaced); the tensors' data is copied unchanged, only the header is
    /// rewritten (its data offsets are relative to the data, so they stay valid). This is how a
    /// payload encoded earlier gets a fact known only later (`replayed` when a spooled message
    /// is sent again) without decoding and encoding its tensor.
    public static func addingMetadata(_ extra: [String: String], to bytes: [UInt8],
                                      what: String = "safetensors file") throws(TensorFormatError) -> [UInt8] {
        let r = ByteReader(bytes: bytes, what: what)
        let headerLength = try r.u64(0)
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw TensorFormatError("\(what): header length \(headerLength) exceeds the file (\(bytes.count) bytes); not a safetensors file?")
        }
        let dataStart = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])),
              var header = object as? [String: Any] else {
            throw TensorFormatError("\(what): header is not a JSON object")
        }
        var metadata = (header["__metadata__"] as? [String: Any]) ?? [:]
        for (key, value) in extra { metadata[key] = value }
        header["__metadata__"] = metadata
        var out = frame(header: header, dataBytes: bytes.count - dataStart)
        out += bytes[dataStart...]
        return out
    }

    /// The length and the JSON header (sorted keys: the same tensors and metadata always give
    /// the same bytes), padded with spaces so the data starts 8-byte aligned, as the library does.
    private static func frame(header: [String: Any], dataBytes: Int) -> [UInt8] {
        var json = Array((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + dataBytes)
        out.appendLE64(UInt64(json.count))
        out += json
        return out
    }

    /// Reads a safetensors file's bytes; `what` names the source in errors.
    public static func decode(_ bytes: [UInt8], what: String = "safetensors file") throws(TensorFormatError) -> SafeTensorsFile {
        let r = ByteReader(bytes: bytes, what: what)
        let headerLength = try r.u64(0)
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw TensorFormatError("\(what): header length \(headerLength) exceeds the file (\(bytes.count) bytes); not a safetensors file?")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = Data(bytes[8..<dataStart])
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes), let header = object as? [String: Any] else {
            throw TensorFormatError("\(what): header is not a JSON object")
        }
        var file = SafeTensorsFile(metadata: [:], tensors: [:], dtypes: [:], names: [])
        var ranges: [(name: String, begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw TensorFormatError("\(what): __metadata__ is not an object") }
                for (key, v) in map {
                    guard let s = v as? String else { throw TensorFormatError("\(what): metadata \(key) is not a string") }
                    file.metadata[key] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2, shape.count == (info["shape"] as? [Any])?.count
            else { throw TensorFormatError("\(what): tensor \(name) has a malformed header entry") }
            let types: [String: TensorElementType] = ["F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64]
            guard let type = types[dtype] else {
                throw TensorFormatError("\(what): tensor \(name) has dtype \(dtype); only F32, F16, BF16 and F64 are read")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorFormatError("\(what): tensor \(name) has a negative dimension") }
            let count = Tensor.elementCount(shape)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end - begin == count * type.byteWidth, dataStart + end <= bytes.count else {
                throw TensorFormatError("\(what): tensor \(name) has data offsets \(begin)..<\(end) that do not fit its shape \(shape) or the file")
            }
            let values = bytes.withUnsafeBytes { type.decode($0, offset: dataStart + begin, count: count) }
            file.tensors[name] = Tensor(shape: shape, values: values)
            file.dtypes[name] = dtype
            ranges.append((name, begin, end))
        }
        file.names = ranges.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }.map(\.name)
        return file
    }
}
