import CALSA
import Glibc

/// A capture PCM as `acoustic-edge devices` shows it.
public struct CaptureDeviceInfo: Sendable, Equatable {
    /// The ALSA PCM name to put in `capture.device`.
    public var name: String
    /// ALSA's description (card and device names), one line.
    public var description: String
    /// Channel counts it accepts (nil when it could not be opened).
    public var channels: ClosedRange<Int>?
    /// Sample rates it accepts, Hz.
    public var rates: ClosedRange<Int>?
    /// The sample formats capture can read from it, in the order capture prefers them.
    public var formats: [SampleFormat]
    /// Why it could not be queried (busy, no such card...), nil when it could.
    public var problem: String?

    /// True for plugin PCMs that convert to any channel count (plug, default, file...).
    public var convertsChannels: Bool {
        (channels?.upperBound ?? 0) > AudioCaptureLimits.maxChannels
    }
}

/// Lists ALSA capture devices.
public enum CaptureDevices {
    /// Every PCM ALSA's name hints offer for capture (as `arecord -L` lists them: cards'
    /// `hw:`, `plughw:`, `sysdefault:`..., and configured PCMs with `hint.show on`), each opened
    /// for a moment to read its channel counts, rates and formats. A device that is busy or
    /// absent is listed with the reason.
    public static func list() -> [CaptureDeviceInfo] {
        ALSA.prepare()
        var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        guard snd_device_name_hint(-1, "pcm", &hints) >= 0, let hints else { return [] }
        defer { snd_device_name_free_hint(hints) }
        var devices: [CaptureDeviceInfo] = []
        var seen = Set<String>()
        var p = hints
        while let hint = p.pointee {
            defer { p += 1 }
            func text(_ id: String) -> String? {
                guard let c = snd_device_name_get_hint(hint, id) else { return nil }
                defer { free(c) }
                return String(cString: c)
            }
            guard let name = text("NAME"), !name.isEmpty, !seen.contains(name) else { continue }
            let io = text("IOID")
            if let io, io != "Input" { continue }  // nil means both directions
            if name == "null" { continue }         // ALSA's zero generator, never a microphone
            seen.insert(name)
            let description = (text("DESC") ?? "")
                .split(whereSeparator: \.isNewline).map { trimmed($0) }
                .joined(separator: ", ")
            devices.append(query(name: name, description: description))
        }
        return devices
    }

    /// Opens `name` for capture just long enough to read what it accepts.
    public static func query(name: String, description: String = "") -> CaptureDeviceInfo {
        ALSA.prepare()
        ALSA.clearLastError()
        var info = CaptureDeviceInfo(name: name, description: description, channels: nil, rates: nil,
                                     formats: [], problem: nil)
        var pcm: OpaquePointer?
        var err = snd_pcm_open(&pcm, name, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)
        guard err >= 0, let pcm else {
            info.problem = ALSA.explain(err)
            return info
        }
        defer { snd_pcm_close(pcm) }
        var hwp: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hwp) >= 0, let hw = hwp else {
            info.problem = "out of memory"
            return info
        }
        defer { snd_pcm_hw_params_free(hw) }
        err = snd_pcm_hw_params_any(pcm, hw)
        if err < 0 {
            info.problem = ALSA.explain(err)
            return info
        }
        var chMin: UInt32 = 0, chMax: UInt32 = 0, rMin: UInt32 = 0, rMax: UInt32 = 0
        var dir: Int32 = 0
        snd_pcm_hw_params_get_channels_min(hw, &chMin)
        snd_pcm_hw_params_get_channels_max(hw, &chMax)
        snd_pcm_hw_params_get_rate_min(hw, &rMin, &dir)
        snd_pcm_hw_params_get_rate_max(hw, &rMax, &dir)
        info.channels = Int(chMin)...Int(max(chMin, chMax))
        info.rates = Int(rMin)...Int(max(rMin, rMax))
        info.formats = SampleFormat.preferenceOrder.filter {
            snd_pcm_hw_params_test_format(pcm, hw, ALSA.alsaFormat($0)) == 0
        }
        return info
    }
}

/// `text` without leading and trailing whitespace (Capture does not import Foundation).
private func trimmed<S: StringProtocol>(_ text: S) -> String {
    var s = Substring(text)
    while s.first?.isWhitespace == true { s.removeFirst() }
    while s.last?.isWhitespace == true { s.removeLast() }
    return String(s)
}
