/// NumPy's `.npy` format, version 1.0: a magic string, a Python-literal header dict
/// (`descr`, `fortran_order`, `shape`), then the raw data, as `numpy.save` writes and
/// `numpy.load` reads it.
public enum NPYFormat {
    /// The bytes of a `.npy` file holding `tensor` as little-endian float32 (`<f4`), or
    /// float16 (`<f2`) with `dtype: .float16`.
    public static func encode(_ tensor: Tensor, dtype: TensorElementType = .float32) -> [UInt8] {
        let dims = tensor.shape.map(String.init)
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(\(dims.joined(separator: ", ")))"
        let descr = dtype == .float16 ? "<f2" : "<f4"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // Pad with spaces and end with a newline so the data starts 64-byte aligned.
        let total = 10 + header.count + 1
        header += repeatElement(0x20, count: (64 - total % 64) % 64)
        header.append(0x0a)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out.appendLE16(UInt16(header.count))
        out += header
        out.appendFloats(tensor.values, as: dtype)
        return out
    }

    /// Reads a `.npy` file's bytes (float32, float16 or float64, either byte order marker for
    /// little-endian, C or Fortran order); `what` names the source in errors.
    public static func decode(_ bytes: [UInt8], what: String = "npy file") throws(TensorFormatError) -> Tensor {
        let r = ByteReader(bytes: bytes, what: what)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw TensorFormatError("\(what) is not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(try r.u16(8)); headerStart = 10
        case 2, 3: headerLength = Int(try r.u32(8)); headerStart = 12
        default: throw TensorFormatError("\(what): unsupported .npy version \(major)")
        }
        let header = String(decoding: try r.slice(headerStart, headerLength), as: UTF8.self)
        guard let descr = field(header, "descr").flatMap(unquote) else { throw TensorFormatError("\(what): header has no descr") }
        let types: [String: TensorElementType] = ["<f4": .float32, "<f2": .float16, "<f8": .float64, "|f4": .float32]
        guard let type = types[descr] else {
            throw TensorFormatError("\(what): dtype \(descr) is not little-endian float16/32/64")
        }
        let fortran = field(header, "fortran_order")?.hasPrefix("True") ?? false
        // The closing parenthesis is searched after the opening one: a corrupt header may hold
        // a ")" first, and a reversed range would trap.
        guard let shapeText = field(header, "shape"), let open = shapeText.firstIndex(of: "("),
              let close = shapeText[open...].firstIndex(of: ")") else { throw TensorFormatError("\(what): header has no shape") }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: open)..<close].split(separator: ",") {
            let trimmed = part.trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let dim = Int(trimmed), dim >= 0 else { throw TensorFormatError("\(what): bad shape \(shapeText)") }
            shape.append(dim)
        }
        let count = Tensor.elementCount(shape)
        let dataStart = headerStart + headerLength
        try r.require(dataStart, count * type.byteWidth)
        let values = bytes.withUnsafeBytes { type.decode($0, offset: dataStart, count: count) }
        guard fortran, shape.count > 1 else { return Tensor(shape: shape, values: values) }
        // Fortran order: the first index varies fastest; transpose into row-major.
        var out = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: shape.count)
        let cStrides = Tensor.contiguousStrides(shape)
        for i in 0..<count {
            var dst = 0
            for axis in 0..<shape.count { dst += index[axis] * cStrides[axis] }
            out[dst] = values[i]
            var axis = 0
            while axis < shape.count {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis += 1
            }
        }
        return Tensor(shape: shape, values: out)
    }

    /// The text after `'key':` up to the next top-level comma (tuples kept whole).
    private static func field(_ header: String, _ key: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0
        var result = ""
        for ch in header[range.upperBound...] {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1; if depth == 0 { result.append(ch); break } }
            if ch == "," && depth == 0 { break }
            if ch == "}" && depth == 0 { break }
            result.append(ch)
        }
        return result.trimmingSpaces
    }

    private static func unquote(_ s: String) -> String? {
        guard s.count >= 2, let first = s.first, first == "'" || first == "\"", s.last == first else { return nil }
        return String(s.dropFirst().dropLast())
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}
