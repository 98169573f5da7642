@testable import Capture
import Foundation
import ReferenceHarness
import Segments

/// ALSA capture devices made of ALSA's own plugins, no hardware: the `file` plugin replays the
/// raw interleaved samples of its `infile` as captured audio, over a `null` slave.
///
/// The private configuration is installed through `ALSA_CONFIG_PATH`, which *replaces* the
/// system's `/usr/share/alsa/alsa.conf` (so nothing from the user's or the system's
/// configuration is read or changed, and only the PCMs defined here exist). Quirks found:
/// - `null` accepts every format, rate and 1...2^30 channels; a `multi` plugin with 8
///   bindings pins the channel count, `lfloat` (slave FLOAT_LE) leaves only integer formats,
///   `rate` limits rates to 4000...768000 Hz. They must sit *below* `file`: `file` injects
///   `infile` only on `readi`, and plugins above it read their slave through mmap.
/// - `file` needs an output `file` even for capture ("/dev/null" here).
/// - after the end of `infile` the device goes on delivering zeros, as fast as it is read:
///   these devices have no clock.
enum TestDevices {
    /// The scratch folder holding the configuration and the infiles.
    static let folder: URL = {
        let folder = try! ReferenceHarness.makeScratchFolder(prefix: "alsa")
        let d = folder.path
        let bindings = (0..<8).map { "\($0) { slave a channel \($0) }" }.joined(separator: " ")
        // ALSA's external-plugin API (ioplug) gives devices that offer exactly one format,
        // rate and channel count, and that overrun, suspend or vanish on cue.
        let plugin = folder.appendingPathComponent("libasound_module_pcm_aefault.so").path
        let source = ReferenceHarness.scriptsFolder.appendingPathComponent("capture_fault_plugin.c").path
        // -DPIC: alsa-lib's plugin macros only export the versioned symbol it looks up with it.
        let compiled = try? ReferenceHarness.run("/usr/bin/cc", ["-shared", "-fPIC", "-DPIC", "-O1", "-o", plugin, source, "-lasound"])
        if compiled == nil { print("CaptureTests: could not compile \(source); the aefault devices will be missing") }
        let config = """
            # acoustic-edge test devices (CaptureTests); replaces alsa.conf for this process.
            pcm_type.aefault { lib "\(plugin)" }
            pcm.ae_fault_s16 { type aefault format "S16_LE" rate 48000 channels 4 }
            pcm.ae_fault_xrun { type aefault channels 4 xrun_at 2500 }
            pcm.ae_fault_suspend { type aefault channels 4 suspend_at 2500 }
            pcm.ae_fault_gone { type aefault channels 4 gone_at 2500 }
            pcm.ae_clocked { type aefault channels 2 clock 1 }
            pcm.ae_m8 {
                type multi
                slaves.a { pcm { type null } channels 8 }
                bindings { \(bindings) }
            }
            pcm.ae_test_float {
                type file
                slave.pcm "ae_m8"
                file "/dev/null"
                infile "\(d)/float.raw"
                format "raw"
                hint { show on description "acoustic-edge test device: 8 channels, any format" }
            }
            pcm.ae_test_int {
                type file
                slave.pcm { type lfloat slave { pcm "ae_m8" format FLOAT_LE } }
                file "/dev/null"
                infile "\(d)/int.raw"
                format "raw"
                hint { show on description "acoustic-edge test device: 8 channels, integer formats" }
            }
            pcm.ae_test_rate {
                type file
                slave.pcm { type rate slave { pcm "ae_m8" rate 16000 format S16_LE } }
                file "/dev/null"
                infile "\(d)/rate.raw"
                format "raw"
            }
            pcm.ae_test_unbounded {
                type file
                slave.pcm { type null }
                file "/dev/null"
                infile "\(d)/unbounded.raw"
                format "raw"
            }

            """
        try! config.write(to: folder.appendingPathComponent("alsa.conf"), atomically: true, encoding: .utf8)
        for name in ["float", "int", "rate", "unbounded"] {
            _ = FileManager.default.createFile(atPath: "\(d)/\(name).raw", contents: Data())
        }
        setenv("ALSA_CONFIG_PATH", folder.appendingPathComponent("alsa.conf").path, 1)
        return folder
    }()

    /// Makes sure the configuration is installed.
    static func install() { _ = folder }

    /// Writes the raw bytes a device replays.
    static func setInfile(_ name: String, _ bytes: [UInt8]) throws {
        install()
        try Data(bytes).write(to: folder.appendingPathComponent("\(name).raw"))
    }
}

/// A known 8-channel test signal: a different tone per channel plus deterministic noise,
/// peak below 0.95, as interleaved float32.
func testSignal(frames: Int, channels: Int = 8, seed: UInt64 = 1) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    var out = [Float](repeating: 0, count: frames * channels)
    for f in 0..<frames {
        for c in 0..<channels {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Double(Int64(bitPattern: state >> 11) % 1_000_000) / 1_000_000.0
            let tone = sin(2 * Double.pi * Double(110 * (c + 1)) * Double(f) / 16000.0)
            out[f * channels + c] = Float(0.6 * tone + 0.3 * noise)
        }
    }
    return out
}

/// Raw little-endian bytes of interleaved samples in a device format, and the values they
/// stand for (the float each quantized integer means, x / 2^(bits-1)).
func encode(_ signal: [Float], as format: SampleFormat) -> (bytes: [UInt8], meaning: [Float]) {
    var bytes: [UInt8] = []
    var meaning: [Float] = []
    bytes.reserveCapacity(signal.count * format.bytesPerSample)
    func put(_ v: UInt32, _ n: Int) { for i in 0..<n { bytes.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    for s in signal {
        switch format {
        case .float32:
            put(s.bitPattern, 4)
            meaning.append(s)
        case .s32:
            let q = Int32(clamping: Int64((Double(s) * 2147483648.0).rounded()))
            put(UInt32(bitPattern: q), 4)
            meaning.append(Float(Double(q) / 2147483648.0))
        case .s24, .s24Packed:
            let q = Int32(max(-8388608, min(8388607, (Double(s) * 8388608.0).rounded())))
            // S24_LE with a zero top byte (as many drivers deliver it): the capture must
            // sign-extend bit 23 itself.
            put(UInt32(bitPattern: q) & 0x00FF_FFFF, format == .s24 ? 4 : 3)
            meaning.append(Float(Double(q) / 8388608.0))
        case .s16:
            let q = Int16(max(-32768, min(32767, (Double(s) * 32768.0).rounded())))
            put(UInt32(UInt16(bitPattern: q)), 2)
            meaning.append(Float(Double(q) / 32768.0))
        }
    }
    return (bytes, meaning)
}

/// The first `count` segments of a started capture, then stops it.
func collect(_ capture: AudioCapture, count: Int) async -> [Segment] {
    var out: [Segment] = []
    for await segment in capture.segments {
        out.append(segment)
        if out.count == count { break }
    }
    capture.stop()
    return out
}
