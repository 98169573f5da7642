import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

/// The readers against files written by the real libraries: torch.save, numpy.save and
/// safetensors' save_file (Tests/reference/tensor_write_reference.py).
final class ReadingReferenceFilesTests: XCTestCase {
    func testReadsWhatTheRealLibrariesWrite() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "tensors")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ReferenceHarness.python("tensor_write_reference.py", [dir.path])
        let listing = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("cases.json"))) as! [String: [Int]]
        XCTAssertEqual(listing.count, 11)
        for (name, shape) in listing.sorted(by: { $0.key < $1.key }) {
            let raw = try TensorFile.readBytes(path: dir.appendingPathComponent("\(name).expected.bin").path)
            let expected = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for ext in ["pt", "npy", "safetensors"] {
                let path = dir.appendingPathComponent("\(name).\(ext)").path
                guard FileManager.default.fileExists(atPath: path) else { continue }
                let tensor = try TensorFile.read(path: path)
                XCTAssertEqual(tensor.shape, shape, "\(name).\(ext) shape")
                XCTAssertEqual(tensor.values.map(\.bitPattern), expected.map(\.bitPattern), "\(name).\(ext) values")
            }
        }
        let st = try SafeTensorsFormat.decode(try TensorFile.readBytes(path: dir.appendingPathComponent("half.safetensors").path))
        XCTAssertEqual(st.dtypes["x"], "F16")
        XCTAssertEqual(st.metadata["case"], "half")
    }
}
