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

    /// `_spec` then `_magnitude` (cac) of `signal [audioC, B, 1, L]`:
    /// `[2 * audioC, B, nfft/2, frames]` with channel `2 * c + (0 re, 1 im)`.
    func forward(_ signal: Activation) -> Activation {
        let length = signal.t, le = frames(for: length), hl = hop
        let bins = nfft / 2
        let out = signal.new(c: 2 * signal.c, f: bins, t: le)
        let scale = 1 / Float(nfft).squareRoot()
        let pad = hl / 2 * 3
        let streams = signal.c * signal.b
        Parallel.forRanges(streams, cost: le * nfft * 16) { range in
            let frameBuffer = RealFFT.allocate(nfft), spectrum = RealFFT.allocate(2 * (bins + 1))
            defer { RealFFT.free(frameBuffer); RealFFT.free(spectrum) }
            for stream in range {
                let ch = stream / signal.b, item = stream % signal.b
                // demucs's own padding, then torch.stft's center padding (nfft/2, reflect).
                let padded = Spectrogram.reflectPad(signal.at(ch, item), count: length,
                                                    left: pad, right: pad + le * hl - length)
                let centred = padded.withUnsafeBufferPointer {
                    Spectrogram.reflectPad($0.baseAddress!, count: padded.count, left: nfft / 2, right: nfft / 2)
                }
                let re = out.at(2 * ch, item), im = out.at(2 * ch + 1, item)
                for j in 0..<le {
                    let start = (j + 2) * hl  // frames 2 ..< 2 + le are kept
                    for n in 0..<nfft { frameBuffer[n] = centred[start + n] * window[n] }
                    fft.forward(frameBuffer, spectrum)
                    for k in 0..<bins {
                        re[k * le + j] = spectrum[2 * k] * scale
                        im[k * le + j] = spectrum[2 * k + 1] * scale
                    }
                }
            }
        }
        return out
    }

    /// `_mask` (cac) then `_ispec` of `spec [2 * channels, B, nfft/2, frames]`: the signal
    /// `[channels, B, 1, length]`.
    func inverse(_ spec: Activation, length: Int) -> Activation {
        let bins = nfft / 2, le = spec.t, hl = hop
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
        envelope.withUnsafeBufferPointer { envelope in
        Parallel.forRanges(streams, cost: le * nfft * 16) { range in
            let spectrum = RealFFT.allocate(2 * (bins + 1)), frame = RealFFT.allocate(nfft)
            defer { RealFFT.free(spectrum); RealFFT.free(frame) }
            var ola = [Float](repeating: 0, count: olaLength)
            for stream in range {
                let ch = stream / spec.b, item = stream % spec.b
                for i in 0..<olaLength { ola[i] = 0 }
                let re = spec.at(2 * ch, item), im = spec.at(2 * ch + 1, item)
                for j in 0..<le {
                    for k in 0..<bins {
                        spectrum[2 * k] = re[k * le + j]
                        spectrum[2 * k + 1] = im[k * le + j]
                    }
                    spectrum[2 * bins] = 0
                    spectrum[2 * bins + 1] = 0
                    fft.inverse(spectrum, frame)
                    let start = (j + 2) * hl
                    for n in 0..<nfft { ola[start + n] += frame[n] * scale * window[n] }
                }
                let dst = out.at(ch, item)
                for i in 0..<length { dst[i] = ola[origin + i] / envelope[origin + i] }
            }
        }
        }
        return out
    }
}
