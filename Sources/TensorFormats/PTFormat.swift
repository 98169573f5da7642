/// PyTorch's `.pt` format for one tensor: the zip archive that `torch.save(tensor, f)` writes
/// (a pickle `data.pkl` referencing a raw little-endian storage `data/0`, plus version
/// records), readable by `torch.load(f, weights_only=True)`.
///
/// The writer emits exactly the pickle opcodes torch 2.x emits for a contiguous float32
/// tensor (`torch._utils._rebuild_tensor_v2` over a `torch.FloatStorage`; a float16 one over
/// a `torch.HalfStorage`, 2 bytes per element), which the weights-only unpickler allows. The reader runs a small pickle machine that understands
/// what `torch.save` writes for a tensor (or an `nn.Parameter`) of float32, float16, bfloat16
/// or float64 storage, with any offset and strides; anything else is refused by name.
public enum PTFormat {
    /// The bytes of a `.pt` file holding `tensor` as float32, or float16 with `dtype: .float16`.
    public static func encode(_ tensor: Tensor, dtype: TensorElementType = .float32) -> [UInt8] {
        let prefix = "archive/"
        var storage: [UInt8] = []
        storage.appendFloats(tensor.values, as: dtype)
        return StoredZip.write([
            (prefix + "data.pkl", pickle(shape: tensor.shape, count: tensor.values.count,
                                         storageType: dtype == .float16 ? "HalfStorage" : "FloatStorage")),
            (prefix + ".format_version", Array("1".utf8)),
            (prefix + ".storage_alignment", Array("64".utf8)),
            (prefix + "byteorder", Array("little".utf8)),
            (prefix + "data/0", storage),
            (prefix + "version", Array("3\n".utf8)),
        ])
    }

    /// Reads the tensor of a `.pt` file's bytes; `what` names the source in errors.
    public static func decode(_ bytes: [UInt8], what: String = "tensor file") throws(TensorFormatError) -> Tensor {
        let entries = try StoredZip.entries(bytes, what: what)
        guard let pkl = entries.first(where: { $0.name.hasSuffix("/data.pkl") || $0.name == "data.pkl" }) else {
            throw TensorFormatError("\(what) is a zip archive but not a PyTorch file (no data.pkl)")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let order = entries.first(where: { $0.name == prefix + "byteorder" }) {
            let value = String(decoding: bytes[order.dataOffset..<(order.dataOffset + order.size)], as: UTF8.self)
            guard value == "little" else { throw TensorFormatError("\(what) was saved with \(value)-endian storages") }
        }
        var machine = Unpickler(bytes: Array(bytes[pkl.dataOffset..<(pkl.dataOffset + pkl.size)]), what: what)
        let root = try machine.run()
        guard case .tensor(let ref) = root else {
            throw TensorFormatError("\(what) holds \(root.kindName), not a single tensor")
        }
        guard let record = entries.first(where: { $0.name == prefix + "data/" + ref.key }) else {
            throw TensorFormatError("\(what) lacks the storage record data/\(ref.key)")
        }
        guard StoredZip.checksumMatches(bytes, record) else {
            throw TensorFormatError("\(what): storage data/\(ref.key) fails its CRC-32 check (corrupt file)")
        }
        let width = ref.type.byteWidth
        guard record.size >= ref.storageCount * width else {
            throw TensorFormatError("\(what): storage data/\(ref.key) holds \(record.size) bytes, needs \(ref.storageCount * width)")
        }
        let storage = bytes.withUnsafeBytes { raw in
            ref.type.decode(raw, offset: record.dataOffset, count: ref.storageCount)
        }
        return try gather(storage, ref: ref, what: what)
    }

    /// Lays out `ref`'s view of `storage` (offset, shape, strides) in row-major order.
    private static func gather(_ storage: [Float], ref: TensorRef, what: String) throws(TensorFormatError) -> Tensor {
        let count = Tensor.elementCount(ref.shape)
        if count == 0 { return Tensor(shape: ref.shape, values: []) }
        // The farthest element the view touches must lie inside the storage.
        var last = ref.offset
        for (size, stride) in zip(ref.shape, ref.strides) {
            guard stride >= 0 else { throw TensorFormatError("\(what): negative stride") }
            last += (size - 1) * stride
        }
        guard ref.offset >= 0, last < storage.count else {
            throw TensorFormatError("\(what): tensor view reaches past its storage (\(last) >= \(storage.count))")
        }
        if ref.strides == Tensor.contiguousStrides(ref.shape) {
            return Tensor(shape: ref.shape, values: Array(storage[ref.offset..<(ref.offset + count)]))
        }
        var values = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: ref.shape.count)
        for i in 0..<count {
            var source = ref.offset
            for axis in 0..<index.count { source += index[axis] * ref.strides[axis] }
            values[i] = storage[source]
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < ref.shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: ref.shape, values: values)
    }

    /// The pickle (protocol 2) torch writes for a contiguous tensor on storage "0" of
    /// `torch.<storageType>` (`FloatStorage`, `HalfStorage`).
    private static func pickle(shape: [Int], count: Int, storageType: String) -> [UInt8] {
        var p: [UInt8] = [0x80, 2]
        func global(_ module: String, _ name: String) {
            p.append(UInt8(ascii: "c")); p += Array("\(module)\n\(name)\n".utf8)
        }
        func unicode(_ s: String) {
            let u = Array(s.utf8)
            p.append(UInt8(ascii: "X")); p.appendLE32(UInt32(u.count)); p += u
        }
        func int(_ v: Int) {
            if v >= 0 && v < 256 { p += [UInt8(ascii: "K"), UInt8(v)] }
            else if v >= 0 && v < 65536 { p.append(UInt8(ascii: "M")); p.appendLE16(UInt16(v)) }
            else if v >= Int(Int32.min) && v <= Int(Int32.max) { p.append(UInt8(ascii: "J")); p.appendLE32(UInt32(bitPattern: Int32(v))) }
            else { p += [0x8a, 8]; p.appendLE64(UInt64(bitPattern: Int64(v))) }  // LONG1
        }
        func tuple(_ values: [Int]) {
            p.append(UInt8(ascii: "("))
            for v in values { int(v) }
            p.append(UInt8(ascii: "t"))
        }
        global("torch._utils", "_rebuild_tensor_v2")
        p.append(UInt8(ascii: "("))           // MARK: the arguments
        p.append(UInt8(ascii: "("))           // MARK: the persistent id
        unicode("storage")
        global("torch", storageType)
        unicode("0")
        unicode("cpu")
        int(count)
        p.append(UInt8(ascii: "t"))
        p.append(UInt8(ascii: "Q"))           // BINPERSID
        int(0)                                // storage offset
        tuple(shape)
        tuple(Tensor.contiguousStrides(shape))
        p.append(0x89)                        // NEWFALSE: requires_grad
        global("collections", "OrderedDict")
        p.append(UInt8(ascii: ")"))           // EMPTY_TUPLE
        p.append(UInt8(ascii: "R"))           // REDUCE: OrderedDict()
        p.append(UInt8(ascii: "t"))           // TUPLE
        p.append(UInt8(ascii: "R"))           // REDUCE: _rebuild_tensor_v2(...)
        p.append(UInt8(ascii: "."))           // STOP
        return p
    }
}

/// A tensor as the pickle describes it: a view into a storage record.
struct TensorRef {
    var key: String
    var type: TensorElementType
    var storageCount: Int
    var offset: Int
    var shape: [Int]
    var strides: [Int]
}

/// The values the small pickle machine builds.
indirect enum PickleValue {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
    case tuple([PickleValue]), list([PickleValue]), dict
    case global(String)
    case storage(key: String, type: TensorElementType, count: Int)
    case tensor(TensorRef)
    case object(String)

    var kindName: String {
        switch self {
        case .none: "None"
        case .bool: "a bool"
        case .int: "an int"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case .tuple: "a tuple"
        case .list: "a list"
        case .dict: "a dict"
        case .global(let name): name
        case .storage: "a storage"
        case .tensor: "a tensor"
        case .object(let name): "a \(name) object"
        }
    }
}

/// A pickle machine for what `torch.save` writes: enough opcodes for tensors, parameters,
/// tuples, lists and dicts; every other opcode and every callable other than the tensor
/// rebuilders is refused (never executed: this is data, not code).
struct Unpickler {
    let bytes: [UInt8]
    let what: String
    var position = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]

    init(bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    private func fail(_ reason: String) -> TensorFormatError {
        TensorFormatError("\(what): bad pickle (\(reason))")
    }

    private mutating func take(_ n: Int) throws(TensorFormatError) -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= bytes.count else { throw fail("truncated at byte \(position)") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    private mutating func le(_ n: Int) throws(TensorFormatError) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    private mutating func line() throws(TensorFormatError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0a) else { throw fail("unterminated line") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func pop() throws(TensorFormatError) -> PickleValue {
        guard let v = stack.popLast() else { throw fail("stack underflow") }
        return v
    }

    private mutating func popMark() throws(TensorFormatError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("missing mark") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    mutating func run() throws(TensorFormatError) -> PickleValue {
        while true {
            let op = try take(1).first!
            switch op {
            case 0x80: _ = try take(1)                                   // PROTO
            case 0x95: _ = try take(8)                                   // FRAME
            case UInt8(ascii: "."): return try pop()                     // STOP
            case UInt8(ascii: "("): marks.append(stack.count)            // MARK
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case UInt8(ascii: "K"): stack.append(.int(Int(try le(1))))
            case UInt8(ascii: "M"): stack.append(.int(Int(try le(2))))
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try le(4)))))
            case 0x8a:                                                   // LONG1
                let n = Int(try le(1))
                guard n <= 8 else { throw fail("integer of \(n) bytes") }
                var v = try le(n)
                if n > 0 && n < 8 && v & (1 << (8 * UInt64(n) - 1)) != 0 { v |= ~0 << (8 * UInt64(n)) }
                stack.append(.int(Int(Int64(bitPattern: v))))
            case UInt8(ascii: "G"): stack.append(.float(Double(bitPattern: UInt64(bigEndian: try le(8)))))
            case UInt8(ascii: "X"):                                      // BINUNICODE
                let n = Int(try le(4)); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8c:                                                   // SHORT_BINUNICODE
                let n = Int(try le(1)); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case UInt8(ascii: "C"):                                      // SHORT_BINBYTES
                let n = Int(try le(1)); stack.append(.bytes(Array(try take(n))))
            case UInt8(ascii: "B"):                                      // BINBYTES
                let n = Int(try le(4)); stack.append(.bytes(Array(try take(n))))
            case UInt8(ascii: ")"): stack.append(.tuple([]))
            case UInt8(ascii: "t"): stack.append(.tuple(try popMark()))
            case 0x85: let a = try pop(); stack.append(.tuple([a]))
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))
            case UInt8(ascii: "]"): stack.append(.list([]))
            case UInt8(ascii: "}"): stack.append(.dict)
            case UInt8(ascii: "a"):                                      // APPEND
                let v = try pop()
                guard case .list(var l) = try pop() else { throw fail("APPEND to a non-list") }
                l.append(v); stack.append(.list(l))
            case UInt8(ascii: "e"):                                      // APPENDS
                let items = try popMark()
                guard case .list(var l) = try pop() else { throw fail("APPENDS to a non-list") }
                l += items; stack.append(.list(l))
            case UInt8(ascii: "s"): _ = try pop(); _ = try pop()        // SETITEM (dict contents unused)
            case UInt8(ascii: "u"): _ = try popMark()                    // SETITEMS
            case UInt8(ascii: "q"): memo[Int(try le(1))] = stack.last    // BINPUT
            case UInt8(ascii: "r"): memo[Int(try le(4))] = stack.last    // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                     // MEMOIZE
            case UInt8(ascii: "h"):                                      // BINGET
                guard let v = memo[Int(try le(1))] else { throw fail("unknown memo") }
                stack.append(v)
            case UInt8(ascii: "j"):                                      // LONG_BINGET
                guard let v = memo[Int(try le(4))] else { throw fail("unknown memo") }
                stack.append(v)
            case UInt8(ascii: "c"):                                      // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global("\(module).\(name)"))
            case 0x93:                                                   // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL without names")
                }
                stack.append(.global("\(module).\(name)"))
            case UInt8(ascii: "Q"): stack.append(try persistent(try pop()))  // BINPERSID
            case UInt8(ascii: "R"):                                      // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args))
            case UInt8(ascii: "b"): _ = try pop()                        // BUILD: state ignored
            default:
                throw fail("unknown opcode \(op) at byte \(position - 1)")
            }
        }
    }

    private func persistent(_ pid: PickleValue) throws(TensorFormatError) -> PickleValue {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0],
              case .global(let typeName) = t[1], case .string(let key) = t[2], case .int(let count) = t[4]
        else { throw fail("unexpected persistent id") }
        let types: [String: TensorElementType] = [
            "torch.FloatStorage": .float32, "torch.HalfStorage": .float16,
            "torch.BFloat16Storage": .bfloat16, "torch.DoubleStorage": .float64,
        ]
        guard let type = types[typeName] else {
            throw TensorFormatError("\(what): storage type \(typeName) is not a floating-point type this reader converts")
        }
        guard count >= 0 else { throw fail("negative storage size") }
        return .storage(key: key, type: type, count: count)
    }

    private func ints(_ v: PickleValue) throws(TensorFormatError) -> [Int] {
        guard case .tuple(let items) = v else { throw fail("expected a tuple of sizes") }
        var out: [Int] = []
        for item in items {
            guard case .int(let i) = item, i >= 0 else { throw fail("bad size or stride") }
            out.append(i)
        }
        return out
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws(TensorFormatError) -> PickleValue {
        guard case .global(let name) = callable, case .tuple(let a) = args else { throw fail("REDUCE without a callable") }
        switch name {
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard a.count >= 4, case .storage(let key, let type, let count) = a[0], case .int(let offset) = a[1] else {
                throw fail("bad tensor arguments")
            }
            let shape = try ints(a[2]), strides = try ints(a[3])
            guard shape.count == strides.count else { throw fail("sizes and strides differ in rank") }
            return .tensor(TensorRef(key: key, type: type, storageCount: count, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let first = a.first, case .tensor = first else { throw fail("parameter without a tensor") }
            return first
        case "collections.OrderedDict", "builtins.dict":
            return .dict
        default:
            return .object(name)
        }
    }
}
