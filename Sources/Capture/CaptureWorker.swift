import Glibc
import Synchronization

/// The capture thread's work: read, convert into the current slot, publish whole segments.
///
/// Nothing in `run()`'s steady state allocates, logs or blocks on the consumer: the read
/// buffer and the slots exist before the loop starts, counters are atomics, and the only lock
/// (`SegmentExchange`) guards a few index operations. Error paths (overrun recovery, reopening
/// a lost device) may allocate; they are rare and already losing samples.
final class CaptureWorker: @unchecked Sendable {
    // @unchecked: after start() hands it to the capture thread, only that thread touches it.

    enum Source {
        case alsa(ALSAPCM)
        case replay(Replay)
    }

    let settings: CaptureSettings
    let format: NegotiatedFormat
    let source: Source
    let exchange: SegmentExchange
    let shared: AudioCapture.Shared

    // Segment being filled.
    private var slot = 0
    private var filled = 0
    private var segmentIndex = 0
    private var meta = SegmentExchange.Meta()
    private var overrunPending = false

    init(settings: CaptureSettings, format: NegotiatedFormat, source: Source,
         exchange: SegmentExchange, shared: AudioCapture.Shared) {
        self.settings = settings
        self.format = format
        self.source = source
        self.exchange = exchange
        self.shared = shared
    }

    private var stopRequested: Bool { shared.stopRequested.load(ordering: .relaxed) }

    func run() {
        guard let first = exchange.acquireFree() else { return }
        slot = first
        switch source {
        case .alsa(let pcm): runALSA(pcm)
        case .replay(let replay): runReplay(replay)
        }
        shared.captureFinished.store(true, ordering: .releasing)
        exchange.readySignal.signal()
    }

    /// Puts `frames` converted frames at the current position; `startTime` is the capture time
    /// of the chunk's first frame. Publishes the slot when it is full.
    @inline(__always)
    private func append(_ raw: UnsafeRawPointer, frames: Int, format sampleFormat: SampleFormat, startTime: Double) {
        if filled == 0 {
            meta.startTime = startTime
        }
        SampleConversion.deinterleave(format: sampleFormat, source: raw, frames: frames,
                                      channels: format.channels, destination: exchange.samples(of: slot),
                                      channelStride: exchange.frames, offset: filled)
        filled += frames
        shared.counters.frames.add(Int64(frames), ordering: .relaxed)
        if filled == exchange.frames { completeSegment() }
    }

    private func completeSegment() {
        meta.index = segmentIndex
        meta.firstSample = Int64(segmentIndex) * Int64(exchange.frames)
        meta.overrun = overrunPending
        shared.counters.segments.add(1, ordering: .relaxed)
        var free = exchange.acquireFree()
        while free == nil && settings.waitForConsumerInTests && !stopRequested {
            usleep(500)
            free = exchange.acquireFree()
        }
        if let next = free {
            exchange.publish(slot, meta)
            slot = next
        } else {
            // The delivery thread holds every other slot: drop this segment, keep capturing.
            // (A segment completed while stopping is not "dropped": nobody will ask for it.)
            if !stopRequested { shared.counters.dropped.add(1, ordering: .relaxed) }
        }
        segmentIndex += 1
        filled = 0
        overrunPending = false
    }

    // MARK: ALSA

    private func runALSA(_ initial: ALSAPCM) {
        var pcm = initial
        var current = pcm.negotiated
        let rate = Double(current.sampleRate)
        // The read buffer holds one period of the widest format; reopening may need a new one.
        var rawCapacity = current.periodFrames * current.channels * 4
        var raw = UnsafeMutableRawPointer.allocate(byteCount: rawCapacity, alignment: 16)
        defer { raw.deallocate(); pcm.close() }
        _ = pcm.start()
        // A device that delivers nothing for this long is treated as lost and reopened.
        let stallLimit = max(5.0, 4 * Double(current.bufferFrames) / rate)
        var lastData = monotonicNow()
        // Recoveries in a row with no frame read in between: a device that fails again right
        // after every recovery (an ioplug device gone, a dead clock) is reopened instead.
        var recoveriesWithoutData = 0

        while !stopRequested {
            var err: Int32 = 0
            let w = pcm.wait(milliseconds: 200)
            if w < 0 {
                err = w
            } else if w == 0 {
                if monotonicNow() - lastData > stallLimit { err = -ENODEV } else { continue }
            } else {
                let want = min(current.periodFrames, exchange.frames - filled)
                let n = pcm.read(into: raw, frames: want)
                if n == -Int(EAGAIN) || n == 0 { continue }
                if n < 0 {
                    err = Int32(n)
                } else {
                    lastData = monotonicNow()
                    recoveriesWithoutData = 0
                    // Only the first read of a segment needs its time (a syscall or two).
                    let start = filled == 0 ? pcm.firstFrameTime(framesJustRead: n, rate: rate) : 0
                    append(raw, frames: n, format: current.format, startTime: start)
                    continue
                }
            }

            // Error path: overrun / suspend are recovered in place; anything else reopens.
            if err == -EINTR { continue }
            if err == -EPIPE || err == -ESTRPIPE {
                shared.counters.overruns.add(1, ordering: .relaxed)
                overrunPending = true
                recoveriesWithoutData += 1
                if recoveriesWithoutData <= 3 && pcm.recover(err) == 0 { continue }
            }
            recoveriesWithoutData = 0
            overrunPending = true
            pcm.close()
            shared.counters.deviceDown.store(true, ordering: .relaxed)
            guard let reopened = reopen(like: current) else { break }  // stopped meanwhile
            pcm = reopened
            current = pcm.negotiated
            let needed = current.periodFrames * current.channels * 4
            if needed > rawCapacity {
                raw.deallocate()
                raw = .allocate(byteCount: needed, alignment: 16)
                rawCapacity = needed
            }
            shared.counters.reopens.add(1, ordering: .relaxed)
            shared.counters.deviceDown.store(false, ordering: .relaxed)
            _ = pcm.start()
            lastData = monotonicNow()
        }
    }

    /// Opens the device again with the channel count it had, backing off from 0.25 s to 8 s
    /// between tries. Nil when stop() came first.
    private func reopen(like previous: NegotiatedFormat) -> ALSAPCM? {
        var backoff = 0.25
        while !stopRequested {
            if let pcm = try? ALSAPCM.open(device: previous.device, channels: previous.channels,
                                           sampleRate: previous.sampleRate, formats: settings.formats,
                                           bufferSeconds: settings.bufferSeconds,
                                           periodSeconds: settings.periodSeconds) {
                return pcm
            }
            let deadline = monotonicNow() + backoff
            while !stopRequested && monotonicNow() < deadline {
                sleepUntil(monotonic: min(deadline, monotonicNow() + 0.1))
            }
            backoff = min(backoff * 2, 8)
        }
        return nil
    }

    // MARK: Replay

    private func runReplay(_ replay: Replay) {
        let channels = replay.channels
        let totalFrames = replay.frames
        let rate = Double(replay.sampleRate)
        let chunk = max(1, min(exchange.frames, Int(rate * settings.periodSeconds)))
        let startReal = realtimeNow()
        let startMono = monotonicNow()
        var delivered: Int64 = 0
        var position = 0
        replay.samples.withUnsafeBufferPointer { samples in
            guard let base = samples.baseAddress, totalFrames > 0 else { return }
            while !stopRequested {
                if position == totalFrames {
                    if settings.loop { position = 0 } else { break }
                }
                let n = min(chunk, exchange.frames - filled, totalFrames - position)
                if settings.realtime {
                    // Deliver a chunk when its last frame would have been captured live.
                    sleepUntil(monotonic: startMono + Double(delivered + Int64(n)) / rate)
                }
                append(UnsafeRawPointer(base + position * channels), frames: n, format: .float32,
                       startTime: startReal + Double(delivered) / rate)
                position += n
                delivered += Int64(n)
            }
        }
        shared.trailingFrames.store(filled, ordering: .relaxed)
    }
}
