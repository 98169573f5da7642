@testable import Capture
import Foundation
import Segments
import Testing

/// The source frame and channel a sample of the `aefault` test device stands for.
private func decode(_ v: Float) -> (frame: Int, channel: Int) {
    let k = Int(Double(v) * 16_777_216)
    return (k / 16, k % 16)
}

extension ALSACaptureTests {
    /// A device that offers only S16_LE at 48000 Hz: negotiation falls through FLOAT, S32 and
    /// S24 to S16, and 16000 Hz is refused naming what it supports.
    @Test func s16OnlyDeviceIsNegotiated() async throws {
        TestDevices.install()
        let message = try #require(startError(CaptureSettings(source: .alsa(device: "ae_fault_s16"))))
        #expect(message.contains("does not support 16000 Hz (it supports 48000...48000 Hz"), "\(message)")

        var settings = CaptureSettings(source: .alsa(device: "ae_fault_s16"), sampleRate: 48000, segmentFrames: 1000)
        settings.waitForConsumerInTests = true
        let capture = try AudioCapture(settings: settings)
        let format = try capture.start()
        #expect(format.format == .s16 && format.channels == 4)
        let segments = await collect(capture, count: 3)
        for s in segments {
            for c in 0..<4 {
                for f in 0..<1000 {
                    let n = Int(s.firstSample) + f
                    let expected = Float((n * 8 + c) % 32768) / 32768
                    if s.channelData[c][f] != expected { Issue.record("seg \(s.index) c\(c) f\(f)"); return }
                }
            }
        }
    }

    /// Captures `count` segments of 1000 frames from a fault device and returns them with
    /// the stats.
    func captureFaulty(_ device: String, count: Int) async throws -> ([Segment], CaptureStats) {
        TestDevices.install()
        var settings = CaptureSettings(source: .alsa(device: device), segmentFrames: 1000)
        settings.waitForConsumerInTests = true
        let capture = try AudioCapture(settings: settings)
        try capture.start()
        let segments = await collect(capture, count: count)
        return (segments, capture.stats)
    }

    /// Where the source stream jumps (samples lost): the segment indices holding a jump.
    func jumps(_ segments: [Segment]) -> [Int] {
        var result: [Int] = []
        var previous: Int?
        for s in segments {
            var jumped = false
            for f in 0..<s.frames {
                let (n, c) = decode(s.channelData[2][f])
                #expect(c == 2)
                if let p = previous, n != p + 1 { jumped = true }
                previous = n
            }
            if jumped { result.append(s.index) }
        }
        return result
    }

    /// An overrun: recovered with snd_pcm_recover, counted, the segment after it marked;
    /// the stream of segments stays contiguous.
    @Test func overrunIsRecoveredCountedAndMarked() async throws {
        let (segments, stats) = try await captureFaulty("ae_fault_xrun", count: 6)
        #expect(stats.overruns == 1 && stats.reopens == 0, "\(stats)")
        #expect(segments.map(\.index) == Array(0..<6))
        #expect(segments.map(\.firstSample) == (0..<6).map { Int64($0 * 1000) })
        // The xrun is noticed at the first read after frame 2500 has been delivered: the
        // read that begins segment 3. 333 frames are lost there, and only there.
        #expect(segments.filter(\.overrun).map(\.index) == [3])
        #expect(jumps(segments) == [3])
        #expect(decode(segments[3].channelData[2][0]).frame == 3000 + 333)
    }

    /// A suspend (-ESTRPIPE) is recovered the same way.
    @Test func suspendIsRecoveredCountedAndMarked() async throws {
        let (segments, stats) = try await captureFaulty("ae_fault_suspend", count: 5)
        #expect(stats.overruns == 1 && stats.reopens == 0, "\(stats)")
        #expect(segments.filter(\.overrun).map(\.index) == [3])
        #expect(jumps(segments) == [3])
    }

    /// A device that vanishes (-ENODEV) is closed and opened again; capture goes on.
    @Test func vanishedDeviceIsReopened() async throws {
        let (segments, stats) = try await captureFaulty("ae_fault_gone", count: 6)
        // Each open of this device delivers 3000 frames (three segments) before it vanishes.
        #expect(stats.reopens >= 1, "\(stats)")
        #expect(segments.map(\.index) == Array(0..<6))
        #expect(segments.filter(\.overrun).map(\.index) == [3])
        #expect(decode(segments[3].channelData[2][0]).frame == 0)  // a fresh open starts over
        #expect(decode(segments[5].channelData[2][999]).frame == 2999)
    }
}

extension ALSACaptureTests {
    /// A device with a clock, as a sound card: segments arrive at the device's pace, their
    /// start times are 0.1 s apart, and the stream is gapless.
    @Test func clockedDeviceDeliversAtItsPace() async throws {
        TestDevices.install()
        let capture = try AudioCapture(settings: CaptureSettings(
            source: .alsa(device: "ae_clocked"), segmentFrames: 1600, periodSeconds: 0.02))
        let begin = Date()
        try capture.start()
        let segments = await collect(capture, count: 5)
        let elapsed = Date().timeIntervalSince(begin)
        #expect(elapsed >= 0.45 && elapsed < 5, "elapsed \(elapsed)")
        #expect(capture.stats.overruns == 0 && capture.stats.droppedSegments == 0, "\(capture.stats)")
        for (i, s) in segments.enumerated() {
            #expect(s.index == i)
            #expect(decode(s.channelData[1][0]).frame == i * 1600)
            #expect(decode(s.channelData[1][1599]).frame == i * 1600 + 1599)
            if i > 0 {
                let step = s.startTime - segments[i - 1].startTime
                #expect(abs(step - 0.1) < 0.05, "segment \(i) starts \(step) s after the previous one")
            }
        }
        #expect(abs(segments[0].startTime - begin.timeIntervalSince1970) < 0.5)
    }

    /// The product's guarantee on a clocked device: a consumer far slower than real time
    /// makes the capture drop whole segments (counted), never wait: no overrun, and every
    /// delivered segment is exactly the device's frames at its place in the stream.
    @Test func slowConsumerNeverStallsAClockedCapture() async throws {
        TestDevices.install()
        let capture = try AudioCapture(settings: CaptureSettings(
            source: .alsa(device: "ae_clocked"), segmentFrames: 800, queueDepth: 1,
            bufferSeconds: 0.2, periodSeconds: 0.01))
        try capture.start()
        var seen: [Segment] = []
        for await s in capture.segments {
            seen.append(s)
            try await Task.sleep(for: .milliseconds(250))  // 5x slower than the 50-ms segments
            if seen.count == 4 { break }
        }
        let stats = capture.stats
        capture.stop()
        #expect(stats.overruns == 0, "\(stats)")
        #expect(stats.droppedSegments > 0, "\(stats)")
        for s in seen {
            #expect(!s.overrun)
            #expect(decode(s.channelData[0][0]).frame == Int(s.firstSample))
            #expect(decode(s.channelData[0][799]).frame == Int(s.firstSample) + 799)
        }
    }
}
