@testable import Capture
import Foundation
import Segments
import Testing

/// `capture.source: file`: the same segmenting path, fed from samples at the clock's pace.
struct ReplayTests {
    @Test func realtimeReplayLoopsAtTheClocksPace() async throws {
        let frames = 1600 * 2 + 800  // 2.5 segments of 0.1 s: the loop seam falls mid-segment
        let signal = testSignal(frames: frames, channels: 3, seed: 3)
        let capture = try AudioCapture(settings: CaptureSettings(
            source: .samples(interleaved: signal, sampleRate: 16000, channels: 3),
            segmentFrames: 1600, loop: true, realtime: true))
        let begin = Date().timeIntervalSince1970
        try capture.start()
        let segments = await collect(capture, count: 6)
        let elapsed = Date().timeIntervalSince1970 - begin
        #expect(segments.map(\.index) == Array(0..<6))
        // Six segments of 0.1 s cannot arrive before 0.6 s of clock time.
        #expect(elapsed >= 0.59, "elapsed \(elapsed)")
        #expect(elapsed < 3, "elapsed \(elapsed)")
        for (i, s) in segments.enumerated() {
            #expect(s.channels == 3)
            #expect(s.firstSample == Int64(i * 1600))
            #expect(abs(s.startTime - (segments[0].startTime + Double(i) * 0.1)) < 1e-6)
            for c in 0..<3 {
                for f in 0..<1600 where s.channelData[c][f] != signal[((i * 1600 + f) % frames) * 3 + c] {
                    Issue.record("segment \(i) ch \(c) frame \(f) differs")
                    break
                }
            }
        }
        #expect(abs(segments[0].startTime - begin) < 0.5)
    }

    @Test func replayWithoutLoopEndsAfterTheLastWholeSegment() async throws {
        let signal = testSignal(frames: 1000 * 3 + 10, channels: 2, seed: 4)
        var settings = CaptureSettings(source: .samples(interleaved: signal, sampleRate: 16000, channels: 2),
                                       segmentFrames: 1000, realtime: false)
        settings.waitForConsumerInTests = true  // unpaced: never drop here
        let capture = try AudioCapture(settings: settings)
        try capture.start()
        var got: [Segment] = []
        for await s in capture.segments { got.append(s) }
        capture.stop()
        #expect(got.map(\.index) == [0, 1, 2])
        #expect(got[2].channelData[1][999] == signal[(2999) * 2 + 1])
        #expect(capture.stats.frames == 3010)
    }

    @Test func replayChannelsAndRateAreChecked() throws {
        let signal = [Float](repeating: 0, count: 4 * 100)
        func error(_ settings: CaptureSettings) -> String? {
            do { try AudioCapture(settings: settings).start(); return nil } catch { return error.description }
        }
        #expect(error(CaptureSettings(source: .samples(interleaved: signal, sampleRate: 48000, channels: 4)))?
            .contains("48000 Hz, but capture.sample_rate is 16000") == true)
        #expect(error(CaptureSettings(source: .samples(interleaved: signal, sampleRate: 16000, channels: 4), channels: 6))?
            .contains("has 4 channel(s), capture.channels asks for 6") == true)
        // Fewer channels than the file has: the first ones.
        let two = try AudioCapture(settings: CaptureSettings(
            source: .samples(interleaved: signal, sampleRate: 16000, channels: 4), channels: 2, segmentFrames: 50))
        #expect(try two.start().channels == 2)
        two.stop()
    }
}

extension ReplayTests {
    /// The agent's MQTT calibrate takes its profile from segments of the running capture.
    @Test func profileFromRunningSegments() async throws {
        let signal = testSignal(frames: 500 * 5, channels: 2, seed: 9)
        var settings = CaptureSettings(source: .samples(interleaved: signal, sampleRate: 16000, channels: 2),
                                       segmentFrames: 500, realtime: false)
        settings.waitForConsumerInTests = true  // unpaced: never drop here
        let capture = try AudioCapture(settings: settings)
        try capture.start()
        var segments: [Segment] = []
        for await s in capture.segments { segments.append(s) }
        capture.stop()
        let profile = try NoiseCalibration.profile(from: segments, seconds: 1200.0 / 16000)
        #expect(profile.tensor.shape == [2, 1200])
        #expect(profile.channelData[1] == (0..<1200).map { signal[$0 * 2 + 1] })
        #expect(throws: CaptureError.self) { try NoiseCalibration.profile(from: [segments[0], segments[2]], seconds: 0.05) }
        #expect(throws: CaptureError.self) { try NoiseCalibration.profile(from: segments, seconds: 1) }
    }
}
