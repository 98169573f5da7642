// HTDemucs's spectrogram front and back ends: `_spec` (reflect padding, torch.stft with
// normalized=True, center=True, last bin dropped, frames cropped) and `_ispec` (zero bin and
// frames added back, torch.istft normalized, window-envelope division, crop), on FFTW via
// DSP.RealFFT.
import DSP
#if canImport(Glibc)
import Glibc
#endif

/// STFT/iSTFT of one model's `nfft` (hop `nfft / 4`), planned once.
final class Spectrogram {
    let nfft: Int
    let hop: Int
    private let fft: RealFFT
    private let window: [Float]

    init(nfft: Int) {
        self.nfft = nfft
        hop = nfft / 4
        fft = RealFFT(size: nfft)
        // torch.hann_window(nfft) is periodic: 0.5 - 0.5 cos(2 pi n / nfft).
        window = (0..<nfft).map { n in Float(0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(nfft))) }
    }

    /// Frames of the model's spectrogram for a signal of `length` samples: `ceil(length / hop)`.
    func frames(for length: Int) -> Int { (length + hop - 1) / hop }

    /// `F.pad(x, (left, right), mode='reflect')` through demucs's `pad1d`, which first pads
    /// zeros on the right (then left) when the signal is too short to reflect.
    static func reflectPad(_ x: UnsafePointer<Float>, count: Int, left: Int, right: Int) -> [Float] {
        var source = Array(UnsafeBufferPointer(start: x, count: count))
        var left = left, right = right
        var extraLeft = 0
        let maxPad = max(left, right)
        if count <= maxPad {
            let extra = maxPad - count + 1
            let extraRight = min(right, extra)
            extraLeft = extra - extraRight
            left -= extraLeft
            right -= extraRight
            source = [Float](repeating: 0, count: extraLeft) + source + [Float](repeating: 0, count: extraRight)
        }
        let n = source.count
        var out = [Float](repeating: 0, count: n + left + right)
        for i in 0..<left { out[i] = source[left - i] }
        for i in 0..<n { out[left + i] = source[i] }
        for i in 0..<right { out[left + n + i] = source[n - 2 - i] }
        return out
    }

    /// Frames transformed together: the spectrogram is stored bin-major (`[bins][frames]`), so
    /// a frame's bins are `frames` floats apart; a group of 16 frames reads or writes 16
    /// consecutive floats (one cache line) per bin instead of one float per line.
    private static let group = 16

    /// Floats from one frame's spectrum to the next in a group's buffer: its `nfft/2 + 1`
    /// complex bins, rounded up so every spectrum stays 64-byte aligned, as FFTW's plans expect.
    private var spectrumStride: Int { (2 * (nfft / 2 + 1) + 15) / 16 * 16 }

    /// `_spec` then `_magnitude` (cac) of `signal [audioC, B, 1, L]`:
    /// `[2 * audioC, B, nfft/2, frames]` with channel `2 * c + (0 re, 1 im)`.
    func forward(_ signal: Activation) -> Activation {
        let length = signal.t, le = frames(for: length), hl = hop
        let bins = nfft / 2, group = Self.group
        let out = signal.new(c: 2 * signal.c, f: bins, t: le)
        let scale = 1 / Float(nfft).squareRoot()
        let pad = hl / 2 * 3
        let streams = signal.c * signal.b
        // demucs's own padding, then torch.stft's center padding (nfft/2, reflect), per stream.
        let centred: [[Float]] = (0..<streams).map { stream in
            let padded = Spectrogram.reflectPad(signal.at(stream / signal.b, stream % signal.b), count: length,
                                                left: pad, right: pad + le * hl - length)
            return padded.withUnsafeBufferPointer {
                Spectrogram.reflectPad($0.baseAddress!, count: padded.count, left: nfft / 2, right: nfft / 2)
            }
        }
        let groups = (le + group - 1) / group
        // Frames within a group stay 64-byte aligned too.
        let spectrumFloats = spectrumStride, frameFloats = (nfft + 15) / 16 * 16
        let buffers = (0..<Parallel.workers).map { _ in RealFFT.allocate(group * (frameFloats + spectrumFloats)) }
        defer { buffers.forEach { RealFFT.free($0) } }
        Parallel.forTiles(streams * groups) { task, worker in
            let stream = task / groups, j0 = (task % groups) * group, count = min(group, le - j0)
            let ch = stream / signal.b, item = stream % signal.b
            let frameBuffer = buffers[worker], spectra = frameBuffer + group * frameFloats
            centred[stream].withUnsafeBufferPointer { centred in
                for f in 0..<count {
                    let start = (j0 + f + 2) * hl  // frames 2 ..< 2 + le are kept
                    let frame = frameBuffer + f * frameFloats
                    for n in 0..<nfft { frame[n] = centred[start + n] * window[n] }
                    fft.forward(frame, spectra + f * spectrumFloats)
                }
            }
            let re = out.at(2 * ch, item) + j0, im = out.at(2 * ch + 1, item) + j0
            for k in 0..<bins {
                for f in 0..<count {
                    re[k * le + f] = spectra[f * spectrumFloats + 2 * k] * scale
                    im[k * le + f] = spectra[f * spectrumFloats + 2 * k + 1] * scale
                }
            }
        }
        return out
    }

    /// `_mask` (cac) then `_ispec` of `spec [2 * channels, B, nfft/2, frames]`: the signal
    /// `[channels, B, 1, length]`.
    func inverse(_ spec: Activation, length: Int) -> Activation {
        let bins = nfft / 2, le = spec.t, hl = hop, group = Self.group
        let channels = spec.c / 2
        let out = spec.new(c: channels, f: 1, t: length)
        let pad = hl / 2 * 3
        // torch.istft over le + 4 frames (2 zero frames each side), hop hl, center=True:
        // output sample i of the crop sits at overlap-add index nfft/2 + pad + i.
        let totalFrames = le + 4
        let olaLength = nfft + hl * (totalFrames - 1)
        var envelope = [Float](repeating: 0, count: olaLength)
        for t in 0..<totalFrames {
            for n in 0..<nfft { envelope[t * hl + n] += window[n] * window[n] }
        }
        let origin = nfft / 2 + pad
        precondition(origin + length <= olaLength, "istft crop beyond the signal")
        // normalized=True: the spectrum is multiplied by sqrt(nfft); irfft divides by nfft.
        let scale = 1 / Float(nfft).squareRoot()
        let streams = channels * spec.b
        let spectrumFloats = spectrumStride
        envelope.withUnsafeBufferPointer { envelope in
        Parallel.forRanges(streams, cost: le * nfft * 16) { range in
            let spectra = RealFFT.allocate(group * spectrumFloats), frame = RealFFT.allocate(nfft)
            defer { RealFFT.free(spectra); RealFFT.free(frame) }
            var ola = [Float](repeating: 0, count: olaLength)
            for stream in range {
                let ch = stream / spec.b, item = stream % spec.b
                for i in 0..<olaLength { ola[i] = 0 }
                var j0 = 0
                while j0 < le {
                    let count = min(group, le - j0)
                    let re = spec.at(2 * ch, item) + j0, im = spec.at(2 * ch + 1, item) + j0
                    for k in 0..<bins {
                        for f in 0..<count {
                            spectra[f * spectrumFloats + 2 * k] = re[k * le + f]
                            spectra[f * spectrumFloats + 2 * k + 1] = im[k * le + f]
                        }
                    }
                    for f in 0..<count {
                        let spectrum = spectra + f * spectrumFloats
                        spectrum[2 * bins] = 0
                        spectrum[2 * bins + 1] = 0
                        fft.inverse(spectrum, frame)
                        let start = (j0 + f + 2) * hl
                        for n in 0..<nfft { ola[start + n] += frame[n] * scale * window[n] }
                    }
                    j0 += count
                }
                let dst = out.at(ch, item)
                for i in 0..<length { dst[i] = ola[origin + i] / envelope[origin + i] }
            }
        }
        }
        return out
    }
}
