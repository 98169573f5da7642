import Foundation
import Pipeline
import ReferenceHarness
import TensorFormats
import XCTest

final class MirrorTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try ReferenceHarness.makeScratchFolder(prefix: "mirror")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func record(index: Int, start: SegmentTime, sources: [String] = ["fan", "pump"]) -> SegmentRecord {
        SegmentRecord(segmentIndex: index, firstSample: Int64(index) * 160_000, start: start, sampleRate: 16000,
                      frames: 160_000, channels: 2, sources: sources, model: "demo.safetensors",
                      modelSHA256: "ab", noiseProfile: nil, denoise: "off", overrun: false, origin: "test")
    }

    func tensors(mics: Int, sources: Int, seed: Float) -> [[Tensor]] {
        (0..<mics).map { m in (0..<sources).map { s in
            Tensor(shape: [1, 240, 240], values: (0..<57600).map { Float($0 % 97) * seed + Float(m * 10 + s) })
        } }
    }

    func testLayoutOfTheDesignNoteReadByTorch() throws {
        let start = SegmentTime(millisecondsSinceEpoch: 1_752_678_200_125)  // 2025-07-16 15:03:20.125 UTC
        XCTAssertEqual(start.iso8601, "2025-07-16T15:03:20.125Z")
        XCTAssertEqual(start.folderName, "2025-07-16_15-03-20")
        let folder = try MirrorWriter(root: root.path).write(record: record(index: 3, start: start), start: start,
                                                             tensors: tensors(mics: 2, sources: 2, seed: 0.5))
        XCTAssertEqual(folder, root.path + "/2025-07-16_15-03-20")
        let lines = try ReferenceHarness.python("mirror_check.py", [folder]).split(separator: "\n")
        let expectedSums = tensors(mics: 2, sources: 2, seed: 0.5).flatMap { $0.map { $0.values.reduce(0.0) { $0 + Double($1) } } }
        XCTAssertEqual(lines.count, 5)
        for (i, (mic, source)) in [(0, "fan"), (0, "pump"), (1, "fan"), (1, "pump")].enumerated() {
            XCTAssertEqual(lines[i], "mic_\(mic) \(source) (1, 240, 240) torch.float32 \(String(format: "%.6f", expectedSums[i]))")
        }
        XCTAssertEqual(lines[4], "json 3 480000 2025-07-16T15:03:20.125Z ['fan', 'pump']")
        // Only the segment folder is left: no staging folder.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["2025-07-16_15-03-20"])
    }

    func testTwoSegmentsNeverShareAFolder() throws {
        let start = SegmentTime(millisecondsSinceEpoch: 1_752_678_200_000)
        let writer = MirrorWriter(root: root.path)
        let a = try writer.write(record: record(index: 0, start: start), start: start, tensors: tensors(mics: 1, sources: 2, seed: 1))
        let later = SegmentTime(millisecondsSinceEpoch: 1_752_678_200_400)
        let b = try writer.write(record: record(index: 1, start: later), start: later, tensors: tensors(mics: 1, sources: 2, seed: 2))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(b, root.path + "/2025-07-16_15-03-20_1")
        XCTAssertEqual(try TensorFile.read(path: a + "/mic_0/fan.pt").values[1], 1)
        XCTAssertEqual(try TensorFile.read(path: b + "/mic_0/fan.pt").values[1], 2)
    }

    func testUnwritableRootIsAnErrorWithThePathAndNothingIsLeft() throws {
        let blocker = root.appendingPathComponent("not-a-folder")
        try TensorFile.writeAtomically([1, 2, 3], to: blocker.path)
        let start = SegmentTime(millisecondsSinceEpoch: 0)
        XCTAssertThrowsError(try MirrorWriter(root: blocker.path + "/out").write(
            record: record(index: 0, start: start), start: start, tensors: tensors(mics: 1, sources: 2, seed: 1))) { error in
            XCTAssertTrue("\(error)".contains(blocker.path), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["not-a-folder"])
    }

    func testRetentionRemovesOldestPastTheBoundsAndNothingElse() throws {
        let writer = MirrorWriter(root: root.path)
        var starts: [SegmentTime] = []
        for i in 0..<5 {
            let start = SegmentTime(millisecondsSinceEpoch: 1_752_678_200_000 + Int64(i) * 10_000)
            starts.append(start)
            try writer.write(record: record(index: i, start: start), start: start, tensors: tensors(mics: 1, sources: 2, seed: 1))
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("operator-notes"), withIntermediateDirectories: false)
        let one = Retention(maxBytes: 0, maxAgeSeconds: 0).sweep(root: root.path)
        XCTAssertEqual(one.removed, [])
        // Each segment is a bit over 2 x 230 kB; keep at most ~2.5 segments' worth.
        let perSegment = try FileManager.default.attributesOfItem(atPath: root.path + "/\(starts[0].folderName)/mic_0/fan.pt")[.size] as! Int
        let outcome = Retention(maxBytes: Int64(perSegment * 5), maxAgeSeconds: 0).sweep(root: root.path)
        XCTAssertEqual(outcome.removed, starts.prefix(3).map(\.folderName))
        let left = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        XCTAssertEqual(left, starts.suffix(2).map(\.folderName) + ["operator-notes"])
        // Age: at now = last start + 5 s, a 12 s bound removes the segment 10 s older? No:
        // it is 15 s old, so it goes; the newest always stays.
        let now = SegmentTime(millisecondsSinceEpoch: starts[4].millisecondsSinceEpoch + 5000)
        let aged = Retention(maxBytes: 0, maxAgeSeconds: 12).sweep(root: root.path, now: now)
        XCTAssertEqual(aged.removed, [starts[3].folderName])
        let gone = Retention(maxBytes: 1, maxAgeSeconds: 1).sweep(root: root.path, now: SegmentTime(millisecondsSinceEpoch: Int64.max / 2))
        XCTAssertEqual(gone.removed, [], "the newest segment is never removed")
    }

    func testModelDigestMatchesPython() throws {
        let file = root.appendingPathComponent("model.bin")
        try TensorFile.writeAtomically((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }, to: file.path)
        let python = try ReferenceHarness.run(ReferenceHarness.pythonPath, ["-c",
            "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", file.path])
        XCTAssertEqual(FileDigest.sha256(path: file.path), python.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertNil(FileDigest.sha256(path: "/nonexistent"))
    }
}
