import Dispatch
import Glibc
import Logging
import Segments
import Synchronization

/// Live capture (ALSA) or real-time replay (file), cut into gapless segments.
///
/// ```swift
/// let capture = try AudioCapture(settings: CaptureSettings(source: .alsa(device: "hw:1,0")))
/// let format = try capture.start()          // throws a one-line error for a bad device
/// for await segment in capture.segments { ... }
/// capture.stop()
/// ```
///
/// Two threads of its own, outside Swift's concurrency pool (whose threads must never block):
/// - the **capture thread** owns the device; it reads a period at a time into a pool of
///   preallocated segment buffers, converting to planar float32 as it goes, and never
///   allocates, logs or waits for the consumer;
/// - the **delivery thread** copies a filled buffer into a `Segment` each time the consumer
///   asks for the next one (so the buffer goes straight back to the pool), and logs overruns
///   and device losses once per burst.
///
/// The pool holds `queueDepth` filled segments waiting for the consumer; when the consumer is
/// further behind, the capture thread overwrites the newest one instead of waiting: that
/// segment is dropped and counted in `stats.droppedSegments`. Memory stays bounded.
public final class AudioCapture: Sendable {
    /// The settings the capture was made with.
    public let settings: CaptureSettings
    /// Whole segments, in order, until `stop()` (or the end of a replayed file without
    /// `loop`). One consumer; a segment is made when it asks for the next one.
    public let segments: CaptureSegments

    private let continuation: AsyncStream<Segment>.Continuation
    private let shared: Shared
    private let lifecycle = Mutex(Lifecycle())
    private let logger: Logger

    private struct Lifecycle {
        var started = false
        var stopped = false
        var threads: [pthread_t] = []
        var format: NegotiatedFormat?
    }

    /// State both threads and the owner see; all of it is thread-safe by construction.
    final class Shared: Sendable {
        let counters = CaptureCounters()
        let stopRequested = Atomic<Bool>(false)
        /// With `finish()`: deliver the whole segments already captured before ending.
        let drain = Atomic<Bool>(false)
        /// One per `next()` of the consumer: the delivery thread makes a segment per credit.
        let credits = DispatchSemaphore(value: 0)
        let captureFinished = Atomic<Bool>(false)
        /// Frames at the end of a replay that did not make a whole segment.
        let trailingFrames = Atomic<Int>(0)
    }

    /// Checks the settings; nothing is opened until `start()`.
    public init(settings: CaptureSettings, logger: Logger = Logger(label: "acoustic-edge.capture")) throws(CaptureError) {
        try settings.validate()
        self.settings = settings
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: Segment.self, bufferingPolicy: .unbounded)
        self.continuation = continuation
        shared = Shared()
        segments = CaptureSegments(stream: stream, credits: shared.credits)
    }

    deinit { stop() }

    /// Counters so far (segments, delivered, dropped, overruns, reopens, frames).
    public var stats: CaptureStats { shared.counters.snapshot }

    /// What the device (or file) runs at, once started.
    public var format: NegotiatedFormat? { lifecycle.withLock { $0.format } }

    /// Opens the source and starts capturing. A device that does not exist, is busy or refuses
    /// the rate, channels or formats throws here, as one line naming the device and the reason.
    @discardableResult
    public func start() throws(CaptureError) -> NegotiatedFormat {
        let already = lifecycle.withLock { l -> Bool in
            if l.started { return true }
            l.started = true
            return false
        }
        if already { throw .alreadyStarted }

        let source: CaptureWorker.Source
        let format: NegotiatedFormat
        switch settings.source {
        case .alsa(let device):
            let pcm = try ALSAPCM.open(device: device, channels: settings.channels,
                                       sampleRate: settings.sampleRate, formats: settings.formats,
                                       bufferSeconds: settings.bufferSeconds,
                                       periodSeconds: settings.periodSeconds)
            format = pcm.negotiated
            source = .alsa(pcm)
        case .file(let path):
            let replay = try Replay.load(path: path, settings: settings)
            format = replay.format(name: path, settings: settings)
            source = .replay(replay)
        case .samples(let samples, let rate, let channels):
            let replay = try Replay.make(interleaved: samples, sampleRate: rate, channels: channels,
                                         name: "samples", settings: settings)
            format = replay.format(name: "samples", settings: settings)
            source = .replay(replay)
        }

        // One slot filling, one being copied out, `queueDepth` waiting for the consumer.
        let exchange = SegmentExchange(slotCount: settings.queueDepth + 2, channels: format.channels, frames: settings.segmentFrames)
        let worker = CaptureWorker(settings: settings, format: format, source: source,
                                   exchange: exchange, shared: shared)
        let delivery = DeliveryWorker(settings: settings, format: format, exchange: exchange,
                                      shared: shared, continuation: continuation, logger: logger)
        do {
            let captureThread = try spawnThread(name: "ae-capture", realtime: true) { worker.run() }
            let deliveryThread = try spawnThread(name: "ae-deliver", realtime: false) { delivery.run() }
            lifecycle.withLock {
                $0.threads = [captureThread, deliveryThread]
                $0.format = format
            }
        } catch {
            shared.stopRequested.store(true, ordering: .releasing)
            throw .device("cannot start the capture thread: \(error)")
        }
        logger.info("capture started: \(format)")
        return format
    }

    /// Stops capturing, waits for both threads, closes the device and ends `segments`
    /// (segments not yet handed to the consumer are discarded). Idempotent.
    public func stop() {
        let threads = claimThreads()
        shared.stopRequested.store(true, ordering: .releasing)
        for t in threads { pthread_join(t, nil) }
        continuation.finish()
    }

    /// Marks the capture stopped and takes its threads (none after the first call).
    private func claimThreads() -> [pthread_t] {
        lifecycle.withLock { l -> [pthread_t] in
            if l.stopped { return [] }
            l.stopped = true
            let t = l.threads
            l.threads = []
            return t
        }
    }

    /// Stops capturing but keeps what was captured: the whole segments already waiting are
    /// still delivered to the consumer, then `segments` ends (a graceful shutdown loses no
    /// whole segment captured before it; the partial one being filled is dropped, as at the
    /// end of any stream). Returns at once; the threads are joined in the background and the
    /// device closed when the capture thread ends. Idempotent, and `stop()` may follow.
    public func finish() {
        let threads = claimThreads()
        shared.drain.store(true, ordering: .releasing)
        shared.stopRequested.store(true, ordering: .releasing)
        guard !threads.isEmpty else { return }
        if let joiner = try? spawnThread(name: "ae-capture-join", realtime: false, { for t in threads { pthread_join(t, nil) } }) {
            pthread_detach(joiner)
        }
    }
}

// MARK: - Threads

/// Starts a joinable POSIX thread running `body`. `realtime` asks for SCHED_FIFO, which needs
/// CAP_SYS_NICE or an rtprio limit (systemd `LimitRTPRIO=`); without it the thread simply runs
/// at normal priority.
private func spawnThread(name: String, realtime: Bool, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard rc == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        throw POSIXError(rc)
    }
    if realtime {
        var param = sched_param()
        param.sched_priority = 20
        _ = pthread_setschedparam(thread, Int32(SCHED_FIFO), &param)
    }
    return thread
}

/// A POSIX error code as an Error.
struct POSIXError: Error, CustomStringConvertible {
    let code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(code)) }
}

/// Wall-clock (CLOCK_REALTIME) seconds since the epoch.
func realtimeNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Monotonic seconds (for pacing).
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Sleeps until the monotonic clock reads `deadline` (seconds).
func sleepUntil(monotonic deadline: Double) {
    var ts = timespec()
    ts.tv_sec = Int(deadline.rounded(.down))
    ts.tv_nsec = Int((deadline - deadline.rounded(.down)) * 1e9)
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
}

// MARK: - Delivery thread

/// Turns filled slots into `Segment`s for the consumer, and does the logging the capture
/// thread must not do.
final class DeliveryWorker: @unchecked Sendable {
    // @unchecked: confined to the delivery thread after start(); the continuation, exchange
    // and counters it shares are thread-safe.
    let settings: CaptureSettings
    let format: NegotiatedFormat
    let exchange: SegmentExchange
    let shared: AudioCapture.Shared
    let continuation: AsyncStream<Segment>.Continuation
    let logger: Logger
    private var inOverrunBurst = false
    private var deviceWasDown = false
    private var reportedDrops = 0

    init(settings: CaptureSettings, format: NegotiatedFormat, exchange: SegmentExchange,
         shared: AudioCapture.Shared, continuation: AsyncStream<Segment>.Continuation, logger: Logger) {
        self.settings = settings
        self.format = format
        self.exchange = exchange
        self.shared = shared
        self.continuation = continuation
        self.logger = logger
    }

    func run() {
        var haveCredit = false
        while true {
            logDeviceTransitions()
            if !haveCredit {
                haveCredit = shared.credits.wait(timeout: .now() + .milliseconds(200)) == .success
                if !haveCredit {
                    // Nobody is asking: after stop(), end the stream without waiting for them;
                    // after finish(), only once every captured segment was taken.
                    if shared.stopRequested.load(ordering: .relaxed)
                        && shared.captureFinished.load(ordering: .acquiring)
                        && (!shared.drain.load(ordering: .relaxed) || exchange.readyCount == 0) {
                        break
                    }
                    continue
                }
            }
            // Read the flag before looking: a slot published before it is found below.
            let finished = shared.captureFinished.load(ordering: .acquiring)
            if let (slot, meta) = exchange.takeReady() {
                deliver(slot: slot, meta: meta)
                haveCredit = false
                continue
            }
            if finished { break }
            _ = exchange.readySignal.wait(timeout: .now() + .milliseconds(200))
        }
        let trailing = shared.trailingFrames.load(ordering: .relaxed)
        if trailing > 0 {
            logger.notice("replay ended; the last \(trailing) frames (less than a segment) were not delivered")
        }
        continuation.finish()
    }

    private func deliver(slot: Int, meta: SegmentExchange.Meta) {
        let counters = shared.counters
        let base = exchange.samples(of: slot)
        let frames = exchange.frames
        var channelData: [[Float]] = []
        channelData.reserveCapacity(exchange.channels)
        for c in 0..<exchange.channels {
            channelData.append(Array(UnsafeBufferPointer(start: base + c * frames, count: frames)))
        }
        exchange.release(slot)
        if meta.overrun {
            if !inOverrunBurst {
                let s = counters.snapshot
                logger.warning("capture overrun: samples lost in segment \(meta.index) (overruns so far: \(s.overruns), device reopened: \(s.reopens))")
            }
            inOverrunBurst = true
        } else {
            inOverrunBurst = false
        }
        let dropped = counters.dropped.load(ordering: .relaxed)
        if dropped > reportedDrops {
            logger.warning("processing is behind: \(dropped - reportedDrops) segment(s) dropped (\(dropped) so far; delivering segment \(meta.index))")
            reportedDrops = dropped
        }
        counters.delivered.add(1, ordering: .relaxed)
        continuation.yield(Segment(index: meta.index, firstSample: meta.firstSample,
                                   startTime: meta.startTime, sampleRate: format.sampleRate,
                                   channelData: channelData, overrun: meta.overrun))
    }

    private func logDeviceTransitions() {
        let down = shared.counters.deviceDown.load(ordering: .relaxed)
        guard down != deviceWasDown else { return }
        if down {
            logger.error("capture device \(format.device) lost; reopening with backoff")
        } else {
            logger.notice("capture device \(format.device) reopened (\(shared.counters.reopens.load(ordering: .relaxed)) reopen(s) so far)")
        }
        deviceWasDown = down
    }
}

/// The segments of an `AudioCapture`, as an async sequence.
///
/// Each `next()` asks the delivery thread for one segment, so at most one finished `Segment`
/// exists outside the capture's fixed pool: a slow consumer makes the capture drop segments
/// (counted), never grow memory.
public struct CaptureSegments: AsyncSequence, Sendable {
    public typealias Element = Segment
    let stream: AsyncStream<Segment>
    let credits: DispatchSemaphore

    /// Iterates the segments; one consumer at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<Segment>.AsyncIterator
        let credits: DispatchSemaphore
        /// The next segment, or nil after `stop()` or the end of a replay.
        public mutating func next() async -> Segment? {
            credits.signal()
            return await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), credits: credits)
    }
}
