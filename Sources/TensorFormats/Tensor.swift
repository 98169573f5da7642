/// A dense float32 tensor in row-major (C) order: what every stage of acoustic-edge exchanges
/// and what the `.pt`, safetensors and `.npy` codecs read and write.
public struct Tensor: Sendable, Equatable {
    /// The size of each dimension, outermost first. `[]` is a scalar (one value).
    public var shape: [Int]
    /// The values in row-major order; `values.count` is the product of `shape`.
    public var values: [Float]

    /// A tensor of `shape` holding `values` (row-major). The counts must agree.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.shape = shape
        self.values = values
    }

    /// The number of elements a tensor of `shape` holds.
    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1, *)
    }

    /// Row-major strides (in elements) for `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= max(shape[axis], 1)
        }
        return strides
    }
}

/// Why a tensor file or payload could not be read or written: one line, naming the problem.
public struct TensorFormatError: Error, CustomStringConvertible, Equatable {
    /// The one-line reason.
    public var description: String

    /// An error with the given one-line reason.
    public init(_ description: String) {
        self.description = description
    }
}

/// The element types the readers understand. Writers write float32, or float16 where a
/// writer takes a `dtype` (``TensorElementType/writable``).
public enum TensorElementType: String, Sendable, CaseIterable {
    /// IEEE 754 binary32.
    case float32
    /// IEEE 754 binary16.
    case float16
    /// bfloat16 (the upper half of a binary32).
    case bfloat16
    /// IEEE 754 binary64.
    case float64

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case .float64: 8
        }
    }

    /// The types the writers can write: float32 and float16.
    public static let writable: [TensorElementType] = [.float32, .float16]

    /// Converts `count` little-endian elements starting at `offset` of `bytes` into floats,
    /// taking every `stride`-th element.
    func decode(_ bytes: UnsafeRawBufferPointer, offset: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            let base = bytes.baseAddress! + offset
            switch self {
            case .float32:
                for i in 0..<count {
                    dst[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case .float16:
                for i in 0..<count {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(Float16(bitPattern: bits))
                }
            case .bfloat16:
                for i in 0..<count {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            case .float64:
                for i in 0..<count {
                    dst[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    /// Appends the little-endian bytes of float32 `values`.
    mutating func appendFloat32LE(_ values: [Float]) {
        reserveCapacity(count + 4 * values.count)
        for v in values {
            let bits = v.bitPattern.littleEndian
            append(UInt8(truncatingIfNeeded: bits))
            append(UInt8(truncatingIfNeeded: bits >> 8))
            append(UInt8(truncatingIfNeeded: bits >> 16))
            append(UInt8(truncatingIfNeeded: bits >> 24))
        }
    }

    /// Appends `values` as little-endian elements of `type` (float32 or float16; float16
    /// rounds to nearest, ties to even, as `torch.Tensor.half()` and numpy's `astype` do).
    mutating func appendFloats(_ values: [Float], as type: TensorElementType) {
        switch type {
        case .float16:
            reserveCapacity(count + 2 * values.count)
            for v in values { appendLE16(Float16(v).bitPattern) }
        case .float32, .bfloat16, .float64:
            precondition(type == .float32, "writers write float32 or float16, not \(type)")
            appendFloat32LE(values)
        }
    }

    mutating func appendLE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v)); append(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func appendLE32(_ v: UInt32) {
        appendLE16(UInt16(truncatingIfNeeded: v)); appendLE16(UInt16(truncatingIfNeeded: v >> 16))
    }

    mutating func appendLE64(_ v: UInt64) {
        appendLE32(UInt32(truncatingIfNeeded: v)); appendLE32(UInt32(truncatingIfNeeded: v >> 32))
    }
}

/// Bounds-checked little-endian reads over a byte array: every read of untrusted input goes
/// through here, so a truncated or lying file becomes an error, never an out-of-bounds read.
struct ByteReader {
    let bytes: [UInt8]
    let what: String

    func require(_ offset: Int, _ length: Int) throws(TensorFormatError) {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw TensorFormatError("\(what) is truncated (needs bytes \(offset)..<\(offset &+ length), has \(bytes.count))")
        }
    }

    func u8(_ o: Int) throws(TensorFormatError) -> UInt8 {
        try require(o, 1); return bytes[o]
    }

    func u16(_ o: Int) throws(TensorFormatError) -> UInt16 {
        try require(o, 2); return UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8
    }

    func u32(_ o: Int) throws(TensorFormatError) -> UInt32 {
        try require(o, 4)
        return UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
    }

    func u64(_ o: Int) throws(TensorFormatError) -> UInt64 {
        UInt64(try u32(o)) | UInt64(try u32(o + 4)) << 32
    }

    func slice(_ o: Int, _ n: Int) throws(TensorFormatError) -> ArraySlice<UInt8> {
        try require(o, n); return bytes[o..<(o + n)]
    }
}
