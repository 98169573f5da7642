// CaptureTests: capture through ALSA itself (file/null plugin devices, no hardware).
import AudioFiles
@testable import Capture
import Foundation
import ReferenceHarness
import Segments
import Testing

/// ALSA's configuration is process-wide (ALSA_CONFIG_PATH), and the test devices' infiles are
/// shared: these tests run one at a time.
@Suite(.serialized)
struct ALSACaptureTests {
    static let segmentFrames = 4000

    /// Captures `segments` segments from `device` after loading `signal` into its infile as
    /// `format`, and checks every sample against what the signal means in that format.
    func captureMatches(device: String, infile: String, deviceFormat: SampleFormat,
                        formats: [SampleFormat] = SampleFormat.preferenceOrder,
                        expectNegotiated: SampleFormat, tolerance: Float) async throws {
        let frames = Self.segmentFrames * 3 + 1234  // 3 whole segments, a 4th partly signal
        let signal = testSignal(frames: frames)
        let (bytes, meaning) = encode(signal, as: deviceFormat)
        try TestDevices.setInfile(infile, bytes)

        var settings = CaptureSettings(source: .alsa(device: device), channels: 0,
                                       sampleRate: 16000, segmentFrames: Self.segmentFrames,
                                       queueDepth: 2, formats: formats)
        settings.waitForConsumerInTests = true
        let capture = try AudioCapture(settings: settings)
        let negotiated = try capture.start()
        #expect(negotiated.format == expectNegotiated)
        #expect(negotiated.channels == 8)  // channels: 0 = the device's maximum
        let segments = await collect(capture, count: 5)
        #expect(segments.count == 5)
        // These devices have no clock; the time must still be the wall clock's, near now.
        #expect(abs(segments[0].startTime - Date().timeIntervalSince1970) < 5)

        var worst: Float = 0
        var mismatches = 0
        for (i, segment) in segments.enumerated() {
            #expect(segment.index == i)
            #expect(segment.firstSample == Int64(i * Self.segmentFrames))  // contiguous
            #expect(segment.channels == 8 && segment.frames == Self.segmentFrames)
            #expect(!segment.overrun)
            for c in 0..<8 {
                let data = segment.channelData[c]
                for f in 0..<Self.segmentFrames {
                    let n = i * Self.segmentFrames + f
                    // After the infile the device delivers zeros.
                    let expected: Float = n < frames ? meaning[n * 8 + c] : 0
                    if tolerance == 0 {
                        if data[f].bitPattern != expected.bitPattern { mismatches += 1 }
                    } else {
                        worst = max(worst, abs(data[f] - expected))
                        if n < frames { worst = max(worst, abs(data[f] - signal[n * 8 + c]) - tolerance) }
                    }
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) samples differ")
        // Against the quantized values: exact; against the original signal: within 1 LSB.
        #expect(worst <= (tolerance == 0 ? 0 : Float(0)), "max error \(worst)")
        let stats = capture.stats
        #expect(stats.droppedSegments == 0 && stats.overruns == 0)
    }

    @Test func float32DeviceGivesTheSignalBitExactly() async throws {
        try await captureMatches(device: "ae_test_float", infile: "float", deviceFormat: .float32,
                                 expectNegotiated: .float32, tolerance: 0)
    }

    @Test func integerDeviceNegotiatesS32WithinOneLSB() async throws {
        try await captureMatches(device: "ae_test_int", infile: "int", deviceFormat: .s32,
                                 expectNegotiated: .s32, tolerance: Float(1.0 / 2147483648.0))
    }

    @Test func s16WithinOneLSB() async throws {
        try await captureMatches(device: "ae_test_int", infile: "int", deviceFormat: .s16, formats: [.s16],
                                 expectNegotiated: .s16, tolerance: Float(1.0 / 32768.0))
    }

    @Test func s24InFourBytesIsSignExtended() async throws {
        try await captureMatches(device: "ae_test_int", infile: "int", deviceFormat: .s24, formats: [.s24],
                                 expectNegotiated: .s24, tolerance: Float(1.0 / 8388608.0))
    }

    @Test func s24PackedWithinOneLSB() async throws {
        try await captureMatches(device: "ae_test_int", infile: "int", deviceFormat: .s24Packed,
                                 formats: [.s24Packed], expectNegotiated: .s24Packed,
                                 tolerance: Float(1.0 / 8388608.0))
    }

    /// The error of a capture that cannot start, as the user sees it.
    func startError(_ settings: CaptureSettings) -> String? {
        do {
            let capture = try AudioCapture(settings: settings)
            try capture.start()
            capture.stop()
            return nil
        } catch {
            return error.description
        }
    }

    @Test func missingDeviceIsAClearOneLineError() throws {
        TestDevices.install()
        let message = try #require(startError(CaptureSettings(source: .alsa(device: "ae_no_such_device"))))
        #expect(message.contains("'ae_no_such_device'"))
        #expect(message.contains("cannot open"))
        #expect(!message.contains("\n"))
        print(message)
    }

    @Test func unsupportedRateIsAClearOneLineError() throws {
        try TestDevices.setInfile("rate", [])
        let message = try #require(startError(CaptureSettings(source: .alsa(device: "ae_test_rate"), sampleRate: 2000)))
        #expect(message.contains("'ae_test_rate'"))
        #expect(message.contains("does not support 2000 Hz"))
        #expect(message.contains("4000...768000"))
        #expect(!message.contains("\n"))
        print(message)
        // The same device at a rate it has works.
        #expect(startError(CaptureSettings(source: .alsa(device: "ae_test_rate"), sampleRate: 16000)) == nil)
    }

    @Test func channelCountTheDeviceLacksIsRefused() throws {
        TestDevices.install()
        let message = try #require(startError(CaptureSettings(source: .alsa(device: "ae_test_float"), channels: 6)))
        #expect(message.contains("does not support 6 channels (it supports 8...8)"))
        let unbounded = try #require(startError(CaptureSettings(source: .alsa(device: "ae_test_unbounded"), channels: 0)))
        #expect(unbounded.contains("set capture.channels"))
        // With an explicit count the unbounded plugin is fine.
        #expect(startError(CaptureSettings(source: .alsa(device: "ae_test_unbounded"), channels: 3)) == nil)
    }

    @Test func badSettingsAreRefusedBeforeOpening() {
        // The capture's own knobs. (The `capture.*` keys, rate, device, channels, are refused
        // where they are defined, by the configuration: ConfigurationTests' impossibleValue.)
        #expect(startError(CaptureSettings(source: .alsa(device: "ae_test_float"), formats: []))?
            .contains("at least one sample format") == true)
        #expect(startError(CaptureSettings(source: .alsa(device: "ae_test_float"), bufferSeconds: 0.05, periodSeconds: 0.1))?
            .contains("period <= buffer") == true)
        #expect(startError(CaptureSettings(source: .samples(interleaved: [0, 0, 0], sampleRate: 16000, channels: 2)))?
            .contains("do not make whole frames") == true)
    }

    /// A consumer that does not keep up: the capture does not wait; whole segments are
    /// dropped and counted, and what is delivered is still placed exactly.
    @Test func slowConsumerDropsWholeSegmentsCounted() async throws {
        let frames = 400 * 200
        let signal = testSignal(frames: frames, seed: 7)
        try TestDevices.setInfile("float", encode(signal, as: .float32).bytes)
        let capture = try AudioCapture(settings: CaptureSettings(
            source: .alsa(device: "ae_test_float"), segmentFrames: 400, queueDepth: 2))
        try capture.start()
        var seen: [Segment] = []
        for await segment in capture.segments {
            seen.append(segment)
            try await Task.sleep(for: .milliseconds(20))
            if seen.count == 6 { break }
        }
        let during = capture.stats
        capture.stop()
        #expect(during.droppedSegments > 0, "\(during)")
        #expect(during.segments >= during.delivered + during.droppedSegments - 1)
        for segment in seen {
            #expect(segment.firstSample == Int64(segment.index) * 400)
            let n0 = segment.index * 400
            for f in 0..<400 where n0 + f < frames {
                if segment.channelData[3][f] != signal[(n0 + f) * 8 + 3] {
                    Issue.record("segment \(segment.index) frame \(f) misplaced")
                    break
                }
            }
        }
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.index < $1.index })
    }
}

extension ALSACaptureTests {
    @Test func deviceListShowsTheTestDevices() throws {
        TestDevices.install()
        let devices = CaptureDevices.list()
        let float = try #require(devices.first { $0.name == "ae_test_float" }, "\(devices.map(\.name))")
        #expect(float.description == "acoustic-edge test device: 8 channels, any format")
        #expect(float.channels == 8...8)
        #expect(float.formats == SampleFormat.preferenceOrder)
        #expect(float.problem == nil)
        let int = try #require(devices.first { $0.name == "ae_test_int" })
        #expect(int.formats == [.s32, .s24, .s24Packed, .s16])
        // Devices without `hint.show on` are not offered, like `arecord -L`.
        #expect(!devices.contains { $0.name == "ae_test_rate" })
        let rate = CaptureDevices.query(name: "ae_test_rate")
        #expect(rate.rates == 4000...768000)
        let missing = CaptureDevices.query(name: "ae_missing")
        #expect(missing.problem?.contains("Unknown PCM ae_missing") == true)
    }
}


extension ALSACaptureTests {
    /// The same audio through ALSA (test device) and through `capture.source: file` (a WAV
    /// read by libsndfile, as `process` reads it) gives the same segments, bit for bit.
    @Test func alsaAndFileReplayGiveTheSameSegments() async throws {
        let frames = 3000 * 4
        let signal = testSignal(frames: frames, seed: 21)
        try TestDevices.setInfile("float", encode(signal, as: .float32).bytes)
        let folder = try ReferenceHarness.makeScratchFolder(prefix: "replay")
        defer { try? FileManager.default.removeItem(at: folder) }
        let wav = folder.appendingPathComponent("eight.wav").path
        try AudioFile.write(AudioBuffer(sampleRate: 16000, channels: 8, samples: signal), to: wav)

        var live = CaptureSettings(source: .alsa(device: "ae_test_float"), segmentFrames: 3000)
        live.waitForConsumerInTests = true
        let alsa = try AudioCapture(settings: live)
        try alsa.start()
        let fromALSA = await collect(alsa, count: 4)

        var fileSettings = CaptureSettings(source: .file(path: wav), segmentFrames: 3000, realtime: false)
        fileSettings.waitForConsumerInTests = true  // unpaced: never drop in this comparison
        let replay = try AudioCapture(settings: fileSettings)
        try replay.start()
        var fromFile: [Segment] = []
        for await s in replay.segments { fromFile.append(s) }
        replay.stop()

        #expect(fromFile.count == 4 && fromALSA.count == 4)
        for (a, b) in zip(fromALSA, fromFile) {
            #expect(a.index == b.index && a.firstSample == b.firstSample)
            #expect(a.channelData == b.channelData)
        }
        // A file that cannot be read is one line naming it.
        let bad = try AudioCapture(settings: CaptureSettings(source: .file(path: folder.appendingPathComponent("none.wav").path)))
        #expect(throws: CaptureError.self) { try bad.start() }
    }
}
