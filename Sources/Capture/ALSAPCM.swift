import CALSA
import CALSAShim
import Glibc

/// What a device agreed to: the hardware parameters in force.
public struct NegotiatedFormat: Sendable, Equatable, CustomStringConvertible {
    /// The ALSA PCM name.
    public var device: String
    /// The sample format in the device's buffer.
    public var format: SampleFormat
    /// Channels (microphones).
    public var channels: Int
    /// Frames per second.
    public var sampleRate: Int
    /// Frames per period (the wake-up interval).
    public var periodFrames: Int
    /// Frames in the ring buffer (how long the capture may stall without losing samples).
    public var bufferFrames: Int

    public var description: String {
        let ms = { (frames: Int) in Int((Double(frames) * 1000 / Double(sampleRate)).rounded()) }
        return "\(device): \(channels) ch, \(sampleRate) Hz, \(format), period \(periodFrames) frames (\(ms(periodFrames)) ms), buffer \(bufferFrames) frames (\(ms(bufferFrames)) ms)"
    }
}

/// Calls into alsa-lib that report errors: installs the message catcher once per process.
enum ALSA {
    private static let installHandler: Void = { ae_alsa_install_error_handler() }()

    /// Must run before any alsa-lib call whose message we want in our errors.
    static func prepare() { _ = installHandler }

    /// `snd_strerror(err)`, plus alsa-lib's own last message on this thread when it has one.
    static func explain(_ err: Int32) -> String {
        var text = String(cString: snd_strerror(err))
        var buffer = [CChar](repeating: 0, count: 512)
        ae_alsa_take_last_error(&buffer, buffer.count)
        let detail = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if !detail.isEmpty { text += " (ALSA: \(detail))" }
        return text
    }

    /// Forgets a stale alsa-lib message of this thread.
    static func clearLastError() {
        var scratch = [CChar](repeating: 0, count: 2)
        ae_alsa_take_last_error(&scratch, scratch.count)
    }

    static func alsaFormat(_ f: SampleFormat) -> snd_pcm_format_t {
        switch f {
        case .float32: return SND_PCM_FORMAT_FLOAT_LE
        case .s32: return SND_PCM_FORMAT_S32_LE
        case .s24: return SND_PCM_FORMAT_S24_LE
        case .s24Packed: return SND_PCM_FORMAT_S24_3LE
        case .s16: return SND_PCM_FORMAT_S16_LE
        }
    }
}

/// An open ALSA capture PCM (`snd_pcm_t`), configured for interleaved reads.
///
/// `@unchecked Sendable` because alsa-lib handles are not thread-safe, and this class keeps it
/// safe by confinement: after `open` returns, exactly one thread (the capture thread) calls its
/// methods, and `close` runs on that same thread or after it has been joined. The handle is
/// handed to that thread once, at start; nothing else keeps a reference.
final class ALSAPCM: @unchecked Sendable {
    private var handle: OpaquePointer?
    /// The parameters the device accepted.
    let negotiated: NegotiatedFormat

    private init(handle: OpaquePointer, negotiated: NegotiatedFormat) {
        self.handle = handle
        self.negotiated = negotiated
    }

    deinit { close() }

    /// Opens `device` for capture and negotiates format, channels, rate, period and buffer.
    /// Throws a one-line `CaptureError.device` naming the device and what it refused.
    static func open(device: String, channels: Int, sampleRate: Int, formats: [SampleFormat],
                     bufferSeconds: Double, periodSeconds: Double) throws(CaptureError) -> ALSAPCM {
        ALSA.prepare()
        ALSA.clearLastError()
        var pcm: OpaquePointer?
        // Non-blocking: a busy device fails at once instead of hanging, and the capture loop
        // waits with snd_pcm_wait and a timeout so that stop() is noticed.
        var err = snd_pcm_open(&pcm, device, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)
        guard err >= 0, let pcm else {
            throw .device("capture device '\(device)': cannot open: \(ALSA.explain(err))")
        }
        var ok = false
        defer { if !ok { snd_pcm_close(pcm) } }
        func fail(_ what: String, _ code: Int32? = nil) -> CaptureError {
            .device("capture device '\(device)': \(what)" + (code.map { ": \(ALSA.explain($0))" } ?? ""))
        }

        var hwp: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hwp) >= 0, let hw = hwp else { throw fail("out of memory") }
        defer { snd_pcm_hw_params_free(hw) }
        err = snd_pcm_hw_params_any(pcm, hw)
        if err < 0 { throw fail("cannot read its hardware parameters", err) }
        err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        if err < 0 { throw fail("does not offer interleaved reads", err) }

        guard let format = formats.first(where: { snd_pcm_hw_params_test_format(pcm, hw, ALSA.alsaFormat($0)) == 0 }) else {
            let offered = SampleFormat.allCases.filter { snd_pcm_hw_params_test_format(pcm, hw, ALSA.alsaFormat($0)) == 0 }
            throw fail("offers none of the sample formats \(formats.map(\.rawValue).joined(separator: ", "))"
                + (offered.isEmpty ? "" : " (it offers \(offered.map(\.rawValue).joined(separator: ", ")))"))
        }
        err = snd_pcm_hw_params_set_format(pcm, hw, ALSA.alsaFormat(format))
        if err < 0 { throw fail("refuses format \(format)", err) }

        var chMin: UInt32 = 0, chMax: UInt32 = 0
        snd_pcm_hw_params_get_channels_min(hw, &chMin)
        snd_pcm_hw_params_get_channels_max(hw, &chMax)
        var wanted = channels
        if wanted == 0 {
            // Plugin PCMs (plug, default, file...) convert to any channel count and report
            // a huge maximum; "the device's maximum" only means something for real hardware.
            guard chMax <= UInt32(AudioCaptureLimits.maxChannels) else {
                throw fail("reports no channel limit (\(chMin)...\(chMax), a converting plugin); set capture.channels to the number of microphones")
            }
            wanted = Int(chMax)
        }
        err = snd_pcm_hw_params_set_channels(pcm, hw, UInt32(wanted))
        if err < 0 { throw fail("does not support \(wanted) channels (it supports \(chMin)...\(chMax))") }

        var rMin: UInt32 = 0, rMax: UInt32 = 0
        var dir: Int32 = 0
        snd_pcm_hw_params_get_rate_min(hw, &rMin, &dir)
        snd_pcm_hw_params_get_rate_max(hw, &rMax, &dir)
        err = snd_pcm_hw_params_set_rate(pcm, hw, UInt32(sampleRate), 0)
        if err < 0 {
            throw fail("does not support \(sampleRate) Hz (it supports \(rMin)...\(rMax) Hz; a plughw: device resamples)")
        }

        // Buffer first, then period: the buffer is what survives a stalled capture thread.
        var bufferFrames = snd_pcm_uframes_t(max(2, Int(Double(sampleRate) * bufferSeconds)))
        err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &bufferFrames)
        if err < 0 { throw fail("refuses a buffer of \(bufferFrames) frames", err) }
        var periodFrames = snd_pcm_uframes_t(max(1, Int(Double(sampleRate) * periodSeconds)))
        dir = 0
        err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &periodFrames, &dir)
        if err < 0 { throw fail("refuses a period of \(periodFrames) frames", err) }
        err = snd_pcm_hw_params(pcm, hw)
        if err < 0 { throw fail("refuses the configuration \(format), \(wanted) ch, \(sampleRate) Hz", err) }
        snd_pcm_hw_params_get_period_size(hw, &periodFrames, &dir)
        snd_pcm_hw_params_get_buffer_size(hw, &bufferFrames)

        var swp: OpaquePointer?
        guard snd_pcm_sw_params_malloc(&swp) >= 0, let sw = swp else { throw fail("out of memory") }
        defer { snd_pcm_sw_params_free(sw) }
        snd_pcm_sw_params_current(pcm, sw)
        snd_pcm_sw_params_set_avail_min(pcm, sw, periodFrames)
        snd_pcm_sw_params_set_start_threshold(pcm, sw, 1)
        // Kernel timestamps of the hardware pointer, on the wall clock: see firstFrameTime.
        snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE)
        _ = snd_pcm_sw_params_set_tstamp_type(pcm, sw, SND_PCM_TSTAMP_TYPE_GETTIMEOFDAY)
        err = snd_pcm_sw_params(pcm, sw)
        if err < 0 { throw fail("refuses the software parameters", err) }
        err = snd_pcm_prepare(pcm)
        if err < 0 { throw fail("cannot be prepared", err) }

        ok = true
        return ALSAPCM(handle: pcm, negotiated: NegotiatedFormat(
            device: device, format: format, channels: wanted, sampleRate: sampleRate,
            periodFrames: Int(periodFrames), bufferFrames: Int(bufferFrames)))
    }

    /// Starts the stream (a capture PCM also starts on its first read).
    func start() -> Int32 {
        guard let handle else { return -EBADFD }
        return snd_pcm_start(handle)
    }

    /// Waits up to `milliseconds` for a period of frames; > 0 ready, 0 timeout, < 0 error.
    func wait(milliseconds: Int32) -> Int32 {
        guard let handle else { return -EBADFD }
        return snd_pcm_wait(handle, milliseconds)
    }

    /// Reads up to `frames` interleaved frames into `buffer`; frames read or a negative errno.
    func read(into buffer: UnsafeMutableRawPointer, frames: Int) -> Int {
        guard let handle else { return Int(-EBADFD) }
        return snd_pcm_readi(handle, buffer, snd_pcm_uframes_t(frames))
    }

    /// Frames captured but not read yet (0 when the device cannot tell).
    func delay() -> Int {
        guard let handle else { return 0 }
        var d: snd_pcm_sframes_t = 0
        return snd_pcm_delay(handle, &d) == 0 ? max(0, d) : 0
    }

    /// The capture time (seconds since the epoch) of the first of the `frames` frames just
    /// read. Preferably from the driver's timestamp of its last hardware-pointer update (taken
    /// in the interrupt, free of our scheduling delay): that frame was captured at the
    /// timestamp, and `avail + frames` frames before it is our first. Plugin PCMs often give
    /// no timestamp, or one on another clock (the `file` plugin uses CLOCK_MONOTONIC): then,
    /// and whenever the timestamp is more than a second from now, `now - (delay + frames)`.
    func firstFrameTime(framesJustRead frames: Int, rate: Double) -> Double {
        let now = realtimeNow()
        guard let handle else { return now - Double(frames) / rate }
        var avail: snd_pcm_uframes_t = 0
        var ts = snd_htimestamp_t()
        if snd_pcm_htimestamp(handle, &avail, &ts) == 0 {
            let t = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
            if t > 0, abs(now - t) < 1 { return t - Double(Int(avail) + frames) / rate }
        }
        return now - Double(delay() + frames) / rate
    }

    /// `snd_pcm_recover` after an overrun (-EPIPE) or suspend (-ESTRPIPE), then restarts.
    /// Returns 0 when capture can go on, a negative errno when the device must be reopened.
    func recover(_ err: Int32) -> Int32 {
        guard let handle else { return -EBADFD }
        let r = snd_pcm_recover(handle, err, 1)
        if r < 0 { return r }
        let s = snd_pcm_start(handle)
        return s == -EBADFD ? 0 : s  // already running is fine
    }

    /// Closes the device (idempotent).
    func close() {
        if let handle {
            snd_pcm_drop(handle)
            snd_pcm_close(handle)
            self.handle = nil
        }
    }
}

/// Limits the capture imposes on devices.
enum AudioCaptureLimits {
    /// Above this a device's channel maximum is a plugin's "anything", not microphones.
    static let maxChannels = 256
}
