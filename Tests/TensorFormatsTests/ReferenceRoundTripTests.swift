import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

/// The writers against the real readers: the files acoustic-edge writes (ranks 0 to 4, a
/// 0-sized dimension, NaN payloads, infinities, -0, subnormals) must come back bit-exactly
/// from torch.load(weights_only=True), safetensors and numpy.load
/// (Tests/reference/tensor_read_reference.py).
final class ReferenceRoundTripTests: XCTestCase {

    func testTorchSafetensorsAndNumpyReadOurFilesBitExactly() throws {
        var random = SplitMix64(seed: 2026)
        func randomTensor(_ shape: [Int]) -> Tensor {
            let count = Tensor.elementCount(shape)
            return Tensor(shape: shape, values: (0..<count).map { _ in Float.random(in: -100...100, using: &random) })
        }
        let specials: [Float] = [
            .nan, -.nan, Float(bitPattern: 0x7FC0_1234), .infinity, -.infinity, -0.0, 0.0,
            .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, 1, -1,
        ]
        let cases: [(name: String, tensor: Tensor, metadata: [String: String])] = [
            ("scalar", Tensor(shape: [], values: [3.25]), [:]),
            ("rank1", randomTensor([17]), [:]),
            ("rank2", randomTensor([3, 5]), ["note": "two dimensions"]),
            ("rank3_mel", randomTensor([1, 240, 240]),
             ["mic": "0", "source": "fan", "segment_start": "2026-11-24T20:00:00.000Z", "segment_index": "7"]),
            ("rank4", randomTensor([2, 3, 4, 5]), [:]),
            ("empty_rank1", Tensor(shape: [0], values: []), [:]),
            ("empty_rank3", Tensor(shape: [4, 0, 3], values: []), [:]),
            ("specials", Tensor(shape: [3, 4], values: specials), ["unicode": "팬 소음 – ünïcode"]),
        ]

        let dir = try ReferenceHarness.makeScratchFolder(prefix: "tensor-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        var listing: [String: Any] = [:]
        for (name, tensor, metadata) in cases {
            try TensorFile.write(tensor, to: dir.appendingPathComponent("\(name).pt").path)
            try TensorFile.write(tensor, to: dir.appendingPathComponent("\(name).npy").path)
            try TensorFile.write(tensor, to: dir.appendingPathComponent("\(name).safetensors").path,
                                 metadata: metadata)
            var bits: [UInt8] = []
            for value in tensor.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bits.append(contentsOf: $0) }
            }
            try Data(bits).write(to: dir.appendingPathComponent("\(name).expected.bin"))
            listing[name] = ["shape": tensor.shape, "metadata": metadata, "tensor_name": "tensor"] as [String: Any]
        }
        try JSONSerialization.data(withJSONObject: listing).write(to: dir.appendingPathComponent("cases.json"))

        let output = try ReferenceHarness.python("tensor_read_reference.py", [dir.path])
        // Five readings per case: torch.load (path, BytesIO), safetensors (torch, numpy), numpy.load.
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "ok \(cases.count * 5)")
    }

    /// float16 files (`mqtt.payload_dtype: float16`): torch.load gets a HalfStorage tensor,
    /// safetensors an F16 one, numpy `<f2`, each value rounded exactly as torch's `half()`
    /// rounds it: ties to even, overflow to infinity, underflow to subnormals and zero.
    func testFloat16FilesHoldWhatTorchsHalfConversionGives() throws {
        var random = SplitMix64(seed: 16)
        let mel = (0..<(240 * 240)).map { _ in Float.random(in: -100...40, using: &random) }
        let edges: [Float] = [
            65504, 65519.99, 65520, -65520, 1e-8, 5.9604645e-8, 2.9802322e-8, 6.1e-5,
            1 + 1.0 / 2048, 1 + 3.0 / 2048, -(1 + 1.0 / 2048), 0.1, -0.0, .infinity, -.infinity, .nan,
        ]
        let cases: [(name: String, tensor: Tensor)] = [
            ("half_mel", Tensor(shape: [1, 240, 240], values: mel)),
            ("half_edges", Tensor(shape: [4, 4], values: edges)),
        ]
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "tensor-half")
        defer { try? FileManager.default.removeItem(at: dir) }
        var listing: [String: Any] = [:]
        for (name, tensor) in cases {
            for ext in ["pt", "npy", "safetensors"] {
                try TensorFile.write(tensor, to: dir.appendingPathComponent("\(name).\(ext)").path,
                                     metadata: ext == "safetensors" ? ["dtype": "float16"] : [:], dtype: .float16)
            }
            var bits: [UInt8] = []
            for value in tensor.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bits.append(contentsOf: $0) }
            }
            try Data(bits).write(to: dir.appendingPathComponent("\(name).expected.bin"))
            listing[name] = ["shape": tensor.shape, "metadata": ["dtype": "float16"], "tensor_name": "tensor",
                             "dtype": "float16"] as [String: Any]
        }
        try JSONSerialization.data(withJSONObject: listing).write(to: dir.appendingPathComponent("cases.json"))
        let output = try ReferenceHarness.python("tensor_read_reference.py", [dir.path])
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "ok \(cases.count * 5)")
        // Half the bytes, and our reader gives back the rounded values.
        let full = TensorFormat.pt.encode(cases[0].tensor), half = TensorFormat.pt.encode(cases[0].tensor, dtype: .float16)
        XCTAssertLessThan(Double(half.count), 0.51 * Double(full.count))
        let back = try TensorFormat.pt.decode(half, what: "half")
        XCTAssertEqual(back.values.first, Float(Float16(mel[0])))
    }

    /// A safetensors payload gets metadata added later (`replayed`) with its tensor bytes
    /// unchanged; the library reads the new metadata and the same tensor.
    func testMetadataAddedToAnEncodedSafetensorsPayload() throws {
        var random = SplitMix64(seed: 5)
        let tensor = Tensor(shape: [1, 240, 240], values: (0..<(240 * 240)).map { _ in Float.random(in: -80...0, using: &random) })
        let original = TensorFormat.safetensors.encode(tensor, metadata: ["mic": "0", "segment_index": "3"])
        let marked = try SafeTensorsFormat.addingMetadata(["replayed": "true"], to: original)
        XCTAssertEqual(Array(marked.suffix(240 * 240 * 4)), Array(original.suffix(240 * 240 * 4)), "data copied as is")
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "tensor-meta")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(marked).write(to: dir.appendingPathComponent("t.safetensors"))
        try TensorFile.write(tensor, to: dir.appendingPathComponent("t.pt").path)
        try TensorFile.write(tensor, to: dir.appendingPathComponent("t.npy").path)
        var bits: [UInt8] = []
        for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bits.append(contentsOf: $0) } }
        try Data(bits).write(to: dir.appendingPathComponent("t.expected.bin"))
        let listing = ["t": ["shape": [1, 240, 240], "metadata": ["mic": "0", "segment_index": "3", "replayed": "true"],
                             "tensor_name": "tensor"] as [String: Any]]
        try JSONSerialization.data(withJSONObject: listing).write(to: dir.appendingPathComponent("cases.json"))
        XCTAssertEqual(try ReferenceHarness.python("tensor_read_reference.py", [dir.path])
            .trimmingCharacters(in: .whitespacesAndNewlines), "ok 5")
        XCTAssertThrowsError(try SafeTensorsFormat.addingMetadata(["a": "b"], to: [1, 2, 3], what: "payload")) {
            XCTAssertTrue("\($0)".hasPrefix("payload is truncated"), "\($0)")
        }
    }

    /// The check can fail: a file whose values differ from what it claims is caught.
    func testTheReferenceCheckCatchesAWrongValue() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "tensor-roundtrip-wrong")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tensor = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        for ext in ["pt", "npy", "safetensors"] {
            try TensorFile.write(tensor, to: dir.appendingPathComponent("t.\(ext)").path)
        }
        var bits: [UInt8] = []
        for value in [Float(1), 2, 3, 4.0000005] {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bits.append(contentsOf: $0) }
        }
        try Data(bits).write(to: dir.appendingPathComponent("t.expected.bin"))
        let listing = ["t": ["shape": [2, 2], "metadata": [String: String](), "tensor_name": "tensor"] as [String: Any]]
        try JSONSerialization.data(withJSONObject: listing).write(to: dir.appendingPathComponent("cases.json"))
        XCTAssertThrowsError(try ReferenceHarness.python("tensor_read_reference.py", [dir.path])) { error in
            XCTAssertTrue("\(error)".contains("values differ in their bits"), "\(error)")
        }
    }
}
