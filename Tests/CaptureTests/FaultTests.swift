import Foundation
import Testing
@testable import Capture

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
