import AudioFiles
import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

/// AudioFiles against libsndfile's Python binding (soundfile) on the same files.
final class AudioFilesTests: XCTestCase {
    func testReadsEveryFormatAsSoundfileDoes() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "audio")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ReferenceHarness.python("audio_files_reference.py", ["write", dir.path])
        let names = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("formats.json"))) as! [String]
        for name in names {
            let audio = try AudioFile.read(path: dir.appendingPathComponent(name).path)
            let raw = try TensorFile.readBytes(path: dir.appendingPathComponent(name + ".expected.f32").path)
            let expected = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(audio.sampleRate, 16000, name)
            XCTAssertEqual(audio.channels, 3, name)
            XCTAssertEqual(audio.frames, 4001, name)
            XCTAssertEqual(audio.samples, expected, name)
        }
    }

    func testWritesFloatWAVThatSoundfileReads() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "audio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let left = (0..<1000).map { Float(sin(Double($0) * 0.01)) }
        let right = (0..<1000).map { Float($0) / 1000 - 0.5 }
        let buffer = AudioBuffer(sampleRate: 48000, channelData: [left, right])
        XCTAssertEqual(buffer.channel(1), right)
        let path = dir.appendingPathComponent("out.wav").path
        try AudioFile.write(buffer, to: path)
        let expected = dir.appendingPathComponent("expected.f32").path
        try TensorFile.writeAtomically(buffer.samples.withUnsafeBytes { Array($0) }, to: expected)
        try ReferenceHarness.python("audio_files_reference.py", ["check", path, expected, "2", "48000"])
        XCTAssertEqual(try AudioFile.read(path: path), buffer)
        // Nothing but the file itself is left in the folder (the temporary was renamed).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["expected.f32", "out.wav"])
    }

    func testErrorsNameTheFileAndTheReason() throws {
        XCTAssertThrowsError(try AudioFile.read(path: "/nonexistent/in.wav")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/in.wav: "), "\(error)")
        }
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "audio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.wav").path
        try TensorFile.writeAtomically(Array("RIFF not really".utf8), to: junk)
        XCTAssertThrowsError(try AudioFile.read(path: junk)) { error in
            XCTAssertTrue("\(error)".hasPrefix(junk + ": "), "\(error)")
        }
        let buffer = AudioBuffer(sampleRate: 16000, channels: 1, samples: [0, 1])
        XCTAssertThrowsError(try AudioFile.write(buffer, to: "/nonexistent/dir/out.wav")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/dir/out.wav: cannot create"), "\(error)")
        }
    }

    func testResamplingKeepsATonesFrequencyAndLength() throws {
        // libsoxr converts 48 kHz to 16 kHz: a 1 kHz tone stays a 1 kHz tone (checked by
        // correlation with the ideal tone at the new rate), and the length scales by 1/3.
        let n = 48000
        let tone = (0..<n).map { Float(sin(2 * Double.pi * 1000 * Double($0) / 48000)) }
        let out = try Resampler.resample(AudioBuffer(sampleRate: 48000, channelData: [tone]), to: 16000)
        XCTAssertEqual(out.sampleRate, 16000)
        XCTAssertEqual(out.frames, 16000)
        let ideal = (0..<16000).map { Float(sin(2 * Double.pi * 1000 * Double($0) / 16000)) }
        // Away from the edges the resampled tone equals the ideal one closely.
        var maxError: Float = 0
        for i in 1000..<15000 { maxError = max(maxError, abs(out.samples[i] - ideal[i])) }
        XCTAssertLessThan(maxError, 1e-3)
    }
}
