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
