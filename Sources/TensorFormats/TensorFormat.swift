/// The encodings a tensor takes on disk and in an MQTT payload, each with everything that goes
/// with it: the name used in the configuration (`mqtt.payload`, `output` files), the file
/// extension, the media type sent as the MQTT v5 content type, the encoder and the decoder.
public enum TensorFormat: String, Sendable, Equatable, CaseIterable {
    /// PyTorch's zip + pickle (`torch.save`; `torch.load(io.BytesIO(payload))`).
    case pt
    /// The safetensors format, the tensor stored under the name `tensor`, with the segment's
    /// facts in its metadata.
    case safetensors
    /// NumPy's `.npy`.
    case npy

    /// The format a configuration names (`pt`, `safetensors`, `npy`), or nil.
    public init?(name: String) { self.init(rawValue: name) }

    /// The format a file extension (without the dot, any case) names, or nil.
    public init?(pathExtension: String) { self.init(rawValue: pathExtension.lowercased()) }

    /// The name in the configuration, which is also the file extension.
    public var name: String { rawValue }

    /// The file extension, without the dot.
    public var fileExtension: String { rawValue }

    /// The media type of the bytes (the MQTT v5 content type of a tensor message).
    public var mediaType: String {
        switch self {
        case .pt: "application/x-pytorch"
        case .safetensors: "application/x-safetensors"
        case .npy: "application/x-npy"
        }
    }

    /// The bytes of `tensor` in this format with elements of `dtype` (float32 or float16);
    /// safetensors carries `metadata`.
    public func encode(_ tensor: Tensor, metadata: [String: String] = [:], dtype: TensorElementType = .float32) -> [UInt8] {
        switch self {
        case .pt: PTFormat.encode(tensor, dtype: dtype)
        case .npy: NPYFormat.encode(tensor, dtype: dtype)
        case .safetensors: SafeTensorsFormat.encode([("tensor", tensor)], metadata: metadata, dtype: dtype)
        }
    }

    /// The tensor in `bytes` of this format. A safetensors file must hold exactly one tensor.
    public func decode(_ bytes: [UInt8], what: String) throws(TensorFormatError) -> Tensor {
        switch self {
        case .pt: return try PTFormat.decode(bytes, what: what)
        case .npy: return try NPYFormat.decode(bytes, what: what)
        case .safetensors:
            let file = try SafeTensorsFormat.decode(bytes, what: what)
            guard file.names.count == 1, let tensor = file.tensors[file.names[0]] else {
                throw TensorFormatError("\(what) holds \(file.names.count) tensors, expected one")
            }
            return tensor
        }
    }
}
