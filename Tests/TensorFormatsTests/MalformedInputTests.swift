import ReferenceHarness
import TensorFormats
import XCTest

/// Broken bytes become one-line errors, never a crash or an out-of-bounds read.
final class MalformedInputTests: XCTestCase {
    let tensor = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])

    func testEveryTruncationOfEveryFormatIsAnError() {
        for format in TensorFormat.allCases {
            let bytes = format.encode(tensor)
            XCTAssertEqual(try format.decode(bytes, what: "x"), tensor, "\(format) round trip")
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try format.decode(Array(bytes.prefix(length)), what: "x"),
                                     "\(format) truncated to \(length) bytes was accepted")
            }
        }
    }

    func testRandomlyCorruptedBytesNeverCrash() {
        // Seeded, so a failure reproduces; 20000 corruptions per format (a seed-random run once
        // found a reversed range in the .npy shape parser).
        var generator = SplitMix64(seed: 0xC0DE)
        for format in TensorFormat.allCases {
            let bytes = format.encode(tensor)
            for _ in 0..<20000 {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                if let decoded = try? format.decode(mutated, what: "x") {
                    XCTAssertEqual(Tensor.elementCount(decoded.shape), decoded.values.count)
                }
            }
        }
    }

    func testCorruptStorageFailsItsChecksum() {
        var bytes = PTFormat.encode(tensor)
        // The storage record is the fifth; flip one byte of its float data.
        let marker = Array("archive/data/0".utf8)
        let start = (0..<(bytes.count - marker.count)).first { Array(bytes[$0..<($0 + marker.count)]) == marker }!
        let dataOffset = ((start + marker.count + 63) / 64) * 64
        bytes[dataOffset + 2] ^= 0xFF
        XCTAssertThrowsError(try PTFormat.decode(bytes, what: "x.pt")) { error in
            XCTAssertTrue("\(error)".contains("CRC-32"), "\(error)")
        }
    }

    func testErrorsNameTheFile() {
        XCTAssertThrowsError(try TensorFile.read(path: "/nonexistent/noise.pt")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/noise.pt: No such file or directory")
        }
        XCTAssertThrowsError(try TensorFile.read(path: "/tmp/x.wav")) { error in
            XCTAssertTrue("\(error)".contains("unknown tensor file extension"), "\(error)")
        }
        XCTAssertThrowsError(try TensorFile.write(tensor, to: "/nonexistent/dir/out.pt")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/dir/out.pt: cannot create"), "\(error)")
        }
    }
}

extension MalformedInputTests {
    /// The header that crashed the parser: a ")" before the "(" of the shape.
    func testNPYShapeWithAClosingParenthesisFirstIsAnError() {
        var bytes = NPYFormat.encode(tensor)
        let header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': )2, 3(, }".utf8)
        bytes.replaceSubrange(10..<(10 + header.count), with: header)
        XCTAssertThrowsError(try NPYFormat.decode(bytes, what: "x.npy"))
    }
}
