#if canImport(Glibc)
import Glibc
#endif

/// Spectral-gating noise reduction, the algorithm of noisereduce 3.0.3 (`reduce_noise` with
/// `use_torch=False`), reproduced operation by operation so its output matches the library's
/// to float precision. See docs/dsp.md for the traps on the way.
///
/// What the library does, per channel:
/// 1. cuts the signal into chunks of `chunk_size` samples, each read with `padding` samples of
///    context on both sides (zeros beyond the signal's ends) and filtered on its own;
/// 2. per chunk: `scipy.signal.stft` (periodic Hann, `boundary='zeros'`, `padded=False`,
///    `scaling='spectrum'`, i.e. divided by the window's sum), a mask per bin, the mask
///    convolved with a triangular 2-D filter (`fftconvolve(..., 'same')`, zeros outside),
///    the STFT times the mask, `scipy.signal.istft` (overlap-add divided by the summed squared
///    window), and the middle of the chunk kept;
/// 3. stationary mask: bin dB (`20 log10(|X| + eps)`, floored at the row's maximum - 80 dB)
///    above the noise clip's per-frequency mean + `n_std` standard deviations of its dB;
///    non-stationary mask: a sigmoid of how far |X| is above its `filtfilt` running mean.
///
/// An instance is immutable and `Sendable`: any number of threads may call `process` at once,
/// each with its own `SpectralGateWorkspace`.
public final class SpectralGate: Sendable {
    /// The parameters, as given.
    public let parameters: SpectralGateParameters
    /// The sample rate of the signals (and of the noise profile).
    public let sampleRate: Int

    let nFFT: Int
    let winLength: Int
    let hop: Int
    let bins: Int
    let half: Int
    /// The r2c / c2r of nFFT points (FFTW complex transforms of nFFT/2 points, see HalfSizeRealFFT).
    let fft: HalfSizeRealFFT
    /// Periodic Hann of `winLength`.
    let window: [Float]
    /// `window / nFFT`: the inverse FFT's 1/N folded into the synthesis window.
    let synthesisWindow: [Float]
    /// `window^2` in double, for the ISTFT's normalization.
    let windowSquares: [Double]
    /// scipy's `scaling='spectrum'`: 1 / sum(window).
    let scale: Double
    /// Half-widths of the smoothing filter in frames and bins (0 = no smoothing).
    let timeRadius: Int
    let freqRadius: Int
    /// Normalized time factor of the separable smoothing filter (the frequency factor runs as
    /// two box sums, see `triangleAlongRow`).
    let timeTaps: [Float]
    /// Stationary thresholds of a given noise profile, per bin.
    let noiseThresholds: StationaryThresholds?
    /// Non-stationary: the one-pole filter coefficient `b` of `filtfilt([b], [1, b - 1])`.
    let poleB: Double

    /// Prepares the gate for signals at `sampleRate`.
    ///
    /// - Parameter noiseProfile: stationary mode's noise clip (one channel at `sampleRate`);
    ///   `nil` uses each processed signal as its own noise clip, as the library does when
    ///   `y_noise` is `None`. Ignored in non-stationary mode.
    /// - Throws: `DSPError.invalidInput` when the noise profile holds no samples.
    public init(parameters: SpectralGateParameters = SpectralGateParameters(), sampleRate: Int,
                noiseProfile: [Float]? = nil) throws(DSPError) {
        let p = parameters
        // The parameters come validated from the configuration (docs/configuration.md: the
        // rules on `denoise.*` live in one place, Configuration/Validation.swift); a caller that
        // builds them by hand gets a precondition failure, not a second set of messages.
        precondition(sampleRate > 0, "sample rate \(sampleRate)")
        precondition(p.nFFT >= 2, "n_fft \(p.nFFT)")
        let winLength = p.winLength ?? p.nFFT
        precondition(winLength >= 2 && winLength <= p.nFFT, "win_length \(winLength) for n_fft \(p.nFFT)")
        let hop = p.hopLength ?? winLength / 4
        precondition(hop >= 1 && hop <= winLength, "hop_length \(hop) for win_length \(winLength)")
        precondition((0...1).contains(p.propDecrease), "prop_decrease \(p.propDecrease)")
        precondition(p.timeConstantSeconds > 0 && p.timeConstantSeconds.isFinite, "time_constant_s \(p.timeConstantSeconds)")
        precondition(p.nStdThreshStationary.isFinite && p.threshNMultNonstationary.isFinite
                     && p.sigmoidSlopeNonstationary.isFinite, "thresholds must be finite")
        precondition((p.chunkSize ?? 1) >= 1 && p.padding >= 0, "chunk_size \(p.chunkSize ?? 0), padding \(p.padding)")

        // The smoothing filter's size, computed with the library's float expressions and int().
        var nGradFreq = 1
        var nGradTime = 1
        if let hz = p.freqMaskSmoothHz {
            let binHz = Double(sampleRate) / (Double(p.nFFT) / 2)
            let v = hz / binHz
            precondition(v.isFinite && v >= 1, "freq_mask_smooth_hz \(hz) is below one bin (\(binHz) Hz)")
            nGradFreq = Int(v)
        }
        if let ms = p.timeMaskSmoothMs {
            let hopMs = (Double(hop) / Double(sampleRate)) * 1000
            let v = ms / hopMs
            precondition(v.isFinite && v >= 1, "time_mask_smooth_ms \(ms) is below one hop (\(hopMs) ms)")
            nGradTime = Int(v)
        }
        let smooth = !(nGradFreq == 1 && nGradTime == 1)

        self.parameters = p
        self.sampleRate = sampleRate
        self.nFFT = p.nFFT
        self.winLength = winLength
        self.hop = hop
        self.bins = p.nFFT / 2 + 1
        self.half = winLength / 2
        self.fft = HalfSizeRealFFT(size: p.nFFT, planning: .measure)
        let window = Window.hann(winLength, periodic: true)
        self.window = window
        self.synthesisWindow = window.map { $0 / Float(p.nFFT) }
        self.windowSquares = window.map { Double($0) * Double($0) }
        self.scale = 1.0 / window.reduce(0.0) { $0 + Double($1) }
        self.timeRadius = smooth ? nGradTime : 0
        self.freqRadius = smooth ? nGradFreq : 0
        self.timeTaps = SpectralGate.triangle(radius: smooth ? nGradTime : 0)
        let tFrames = p.timeConstantSeconds * Double(sampleRate) / Double(hop)
        self.poleB = ((1 + 4 * tFrames * tFrames).squareRoot() - 1) / (2 * tFrames * tFrames)

        if p.stationary, let noiseProfile {
            guard !noiseProfile.isEmpty else {
                throw .invalidInput("the noise profile is empty")
            }
            let clipped = p.clipNoiseStationary && p.chunkSize != nil
                ? Array(noiseProfile.prefix(p.chunkSize!)) : noiseProfile
            // The statistics need a finished gate: a profile-less twin computes them.
            let twin = try SpectralGate(parameters: p, sampleRate: sampleRate, noiseProfile: nil)
            let workspace = SpectralGateWorkspace()
            self.noiseThresholds = clipped.withUnsafeBufferPointer { twin.noiseStatistics(of: $0, workspace) }
        } else {
            self.noiseThresholds = nil
        }
    }

    /// The triangular weights `1 - |d| / (r + 1)`, d in -r...r, normalized to sum 1 (the
    /// library's `_smoothing_filter` is their outer product, normalized).
    static func triangle(radius r: Int) -> [Float] {
        let raw = (-r...r).map { d in Double(r + 1 - abs(d)) / Double(r + 1) }
        let sum = raw.reduce(0, +)
        return raw.map { Float($0 / sum) }
    }

    /// Denoises one channel; the result has the same length.
    public func process(_ channel: [Float]) -> [Float] {
        process(channel, workspace: SpectralGateWorkspace())
    }

    /// Denoises one channel with a workspace the caller keeps (one per thread) so repeated
    /// calls allocate nothing but the result.
    public func process(_ channel: [Float], workspace: SpectralGateWorkspace) -> [Float] {
        var result = [Float](repeating: 0, count: channel.count)
        channel.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { output in
                process(source, into: output, workspace: workspace)
            }
        }
        return result
    }

    /// Denoises `channel` into `output` (the same count).
    public func process(_ channel: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>,
                        workspace: SpectralGateWorkspace) {
        precondition(output.count == channel.count, "output must have the input's length")
        let n = channel.count
        guard n > 0, let outBase = output.baseAddress else { return }

        var thresholds: StationaryThresholds? = nil
        if parameters.stationary {
            if let given = noiseThresholds {
                thresholds = given
            } else {
                // y_noise = y, clipped to chunk_size as the library clips it.
                let count = (parameters.clipNoiseStationary ? parameters.chunkSize.map { min($0, n) } : nil) ?? n
                thresholds = noiseStatistics(of: UnsafeBufferPointer(rebasing: channel[0..<count]), workspace)
            }
        }

        let padding = parameters.padding
        if let chunk = parameters.chunkSize, n > chunk {
            var start = 0
            while start < n {
                let keep = min(start + chunk, n) - start
                filterChunk(channel, chunkStart: start - padding, chunkLength: chunk + 2 * padding,
                            keepStart: padding, keepCount: keep, output: outBase + start,
                            thresholds: thresholds, workspace)
                start += chunk
            }
        } else {
            filterChunk(channel, chunkStart: -padding, chunkLength: n + 2 * padding,
                        keepStart: padding, keepCount: n, output: outBase, thresholds: thresholds, workspace)
        }
    }
}

/// Stationary mode's thresholds per frequency bin, from a noise clip.
struct StationaryThresholds: Sendable {
    /// `mean + n_std * std` of the clip's dB, per bin.
    var decibels: [Double]
    /// The same threshold as a power of the unscaled FFT (`|X|^2 > power[f]` is `dB > thr`);
    /// -1 where every bin passes.
    var power: [Float]
}

/// The unsmoothed mask of frames kM0 ..< kM1, bin-major (`transposed[f * width + timeRadius +
/// k - kM0]`, zero columns for the frames outside the chunk on both sides): the layout in which
/// the smoothing's box sums along frequency step over whole rows and its time taps run over
/// contiguous frames.
///
/// The mask is computed frame-major, one contiguous vector loop per frame, into a tile of 16
/// frames that is transposed into place 16 x 16 at a time in registers (`transpose16x16`).
/// Writing each frame's bins straight into the bin-major array costs one store per bin, a row
/// (2.5 kB) apart: a cache miss each, which made it the denoise stage's most expensive loop.
struct MaskTiles {
    /// 16 frame-major rows of `tileStride` floats (bins rounded up to 16; the extra values
    /// land in rows past `bins` of `transposed`, which are never read).
    let tile: UnsafeMutablePointer<Float>
    let tileStride: Int
    /// `tileStride` rows of `width` floats.
    let transposed: UnsafeMutablePointer<Float>
    let width: Int
    let bins: Int
    let timeRadius: Int
    let kM0: Int
    let kM1: Int

    init(bins: Int, kM0: Int, kM1: Int, timeRadius: Int, _ ws: SpectralGateWorkspace) {
        self.bins = bins
        self.kM0 = kM0
        self.kM1 = kM1
        self.timeRadius = timeRadius
        tileStride = alignedStride(bins)
        tile = ws.tile.reserve(16 * tileStride)
        // The padding bins go to rows of `transposed` that are never read; zeros all the same.
        for j in 0..<16 { (tile + j * tileStride + bins).update(repeating: 0, count: tileStride - bins) }
        let tiled = alignedStride(max(kM1 - kM0, 0))
        // 16 spare columns: the smoothing's time taps compute whole vectors of 16 frames and
        // may read up to 15 columns past the last frame's taps.
        width = alignedStride(tiled + 2 * timeRadius + 16)
        transposed = ws.transposed.reserve(tileStride * width)
        for f in 0..<bins {
            let row = transposed + f * width
            row.update(repeating: 0, count: timeRadius)
            (row + timeRadius + tiled).update(repeating: 0, count: width - timeRadius - tiled)
        }
    }

    /// Where frame `k`'s mask goes (bins 0 ..< bins, contiguous); `flush(k)` once the tile's
    /// frames are all written.
    @inline(__always)
    func row(_ k: Int) -> UnsafeMutablePointer<Float> { tile + ((k - kM0) & 15) * tileStride }

    /// True when frame `k` completes its tile in a pass that runs forward in time.
    @inline(__always)
    func endsTileForward(_ k: Int) -> Bool { (k - kM0) & 15 == 15 || k == kM1 - 1 }

    /// Transposes the tile holding frame `k` into place; its frames at or past kM1 are zeros.
    func flush(_ k: Int) {
        let first = kM0 + ((k - kM0) & ~15)
        for j in 0..<16 where first + j >= kM1 {
            (tile + j * tileStride).update(repeating: 0, count: tileStride)
        }
        let column = transposed + timeRadius + (first - kM0)
        var f0 = 0
        while f0 < bins {
            transpose16x16(tile + f0, sourceStride: tileStride, column + f0 * width, destinationStride: width)
            f0 &+= 16
        }
    }
}

/// The scratch memory of one thread's `SpectralGate.process` calls. Not thread-safe: keep one
/// per thread (or per call).
public final class SpectralGateWorkspace {
    var frame = Scratch<Float>()
    var fftScratch = Scratch<Float>()
    var spectrum = Scratch<Float>()
    var spectra = Scratch<Float>()
    var magnitudes = Scratch<Float>()
    var transposed = Scratch<Float>()
    var tile = Scratch<Float>()
    var boxRows = Scratch<Float>()
    var zeroRow = Scratch<Float>()
    var boxSum2 = Scratch<Float>()
    var block = Scratch<Float>()
    var taps = Scratch<Float>()
    var smoothed = Scratch<Float>()
    var forwardIIR = Scratch<Float>()
    var state = Scratch<Float>()
    var rowMax = Scratch<Float>()
    var decibels = Scratch<Double>()
    /// The ISTFT normalization of the kept part of a chunk, cached by chunk geometry.
    var inverseNorm = Scratch<Float>()
    var inverseNormKey: [Int] = []

    /// An empty workspace; buffers grow on first use.
    public init() {}

    deinit {
        frame.release(); fftScratch.release(); spectrum.release(); spectra.release(); magnitudes.release();
        transposed.release(); tile.release(); boxRows.release(); zeroRow.release(); boxSum2.release(); block.release(); taps.release()
        smoothed.release(); forwardIIR.release(); state.release()
        rowMax.release(); decibels.release(); inverseNorm.release()
    }
}

extension SpectralGate {
    /// The library's `_amp_to_db` epsilon: float64 machine epsilon.
    static let eps = 2.220446049250313e-16

    /// Per-bin thresholds from a noise clip: scipy.signal.stft of the clip (float32, as scipy
    /// computes it for float32 input), `_amp_to_db` (float64, floored at each bin's maximum
    /// over time - 80 dB), then mean + n_std * std over time.
    func noiseStatistics(of noise: UnsafeBufferPointer<Float>, _ ws: SpectralGateWorkspace) -> StationaryThresholds {
        let count = noise.count
        let frames = (count + 2 * half - winLength) / hop + 1
        let stride = alignedStride(2 * bins)
        let frame = ws.frame.reserve(nFFT)
        let fftScratch = ws.fftScratch.reserve(fft.scratchCount)
        let spectrum = ws.spectrum.reserve(stride)
        let db = ws.decibels.reserve(frames * bins)
        let scaleF = Float(scale)
        for k in 0..<frames {
            fillFrame(frame, source: noise.baseAddress!, sourceStart: 0, validStart: 0, validEnd: count,
                      frameStart: k * hop - half)
            fft.forward(frame, spectrum, scratch: fftScratch)
            let row = db + k * bins
            for f in 0..<bins {
                let re = spectrum[2 * f], im = spectrum[2 * f + 1]
                let magnitude = (re * re + im * im).squareRoot() * scaleF
                row[f] = 20 * log10(Double(magnitude) + SpectralGate.eps)
            }
        }
        var decibels = [Double](repeating: 0, count: bins)
        var power = [Float](repeating: 0, count: bins)
        for f in 0..<bins {
            var top = -Double.infinity
            for k in 0..<frames { top = max(top, db[k * bins + f]) }
            let floor = top - 80
            var sum = 0.0
            for k in 0..<frames { sum += max(db[k * bins + f], floor) }
            let mean = sum / Double(frames)
            var squares = 0.0
            for k in 0..<frames {
                let d = max(db[k * bins + f], floor) - mean
                squares += d * d
            }
            let std = (squares / Double(frames)).squareRoot()
            let threshold = mean + std * parameters.nStdThreshStationary
            decibels[f] = threshold
            power[f] = linearPowerThreshold(decibels: threshold)
        }
        return StationaryThresholds(decibels: decibels, power: power)
    }

    /// `20 log10(|X| * scale + eps) > t`  <=>  `|X|^2 > ((10^(t/20) - eps) / scale)^2`, or
    /// always when the right side is negative. Comparing powers saves a log per bin.
    func linearPowerThreshold(decibels t: Double) -> Float {
        let amplitude = pow(10.0, t / 20) - SpectralGate.eps
        if amplitude < 0 { return -1 }
        let unscaled = amplitude / scale
        return Float(unscaled * unscaled)
    }

    /// Writes frame `frameStart ..< frameStart + winLength` of a signal that is zero outside
    /// `validStart ..< validEnd` (indices relative to `sourceStart`), windowed and zero-padded to
    /// `nFFT`.
    @inline(__always)
    func fillFrame(_ frame: UnsafeMutablePointer<Float>, source: UnsafePointer<Float>, sourceStart: Int,
                   validStart: Int, validEnd: Int, frameStart: Int) {
        let lo = max(0, min(winLength, validStart - frameStart))
        let hi = max(lo, min(winLength, validEnd - frameStart))
        if lo > 0 { frame.update(repeating: 0, count: lo) }
        if hi < nFFT { (frame + hi).update(repeating: 0, count: nFFT - hi) }
        window.withUnsafeBufferPointer { w in
            let src = source + (sourceStart + frameStart)
            var i = lo
            while i < hi {
                frame[i] = src[i] * w[i]
                i &+= 1
            }
        }
    }

    /// Filters one chunk of the library's `get_traces`: chunk position 0 is signal index
    /// `chunkStart` (may be negative), the chunk is `chunkLength` long and zero outside the
    /// signal, and `keepCount` samples from chunk position `keepStart` go to `output`.
    func filterChunk(_ source: UnsafeBufferPointer<Float>, chunkStart i1: Int, chunkLength length: Int,
                     keepStart: Int, keepCount: Int, output: UnsafeMutablePointer<Float>,
                     thresholds: StationaryThresholds?, _ ws: SpectralGateWorkspace) {
        output.update(repeating: 0, count: keepCount)
        // Real samples, in chunk positions.
        let z0 = max(0, -i1)
        let z1 = min(length, source.count - i1)
        // scipy: boundary='zeros' extends by half a window each side; padded=False.
        let segments = (length + 2 * half - winLength) / hop + 1
        let istftLength = winLength + (segments - 1) * hop - 2 * half
        let keepEnd = min(keepStart + keepCount, istftLength)
        guard keepEnd > keepStart else { return }
        // Frame k covers chunk positions k*hop - half ..< k*hop - half + winLength.
        func firstFrame(endingAfter a: Int) -> Int { max(0, floorDiv(a + half - winLength, hop) + 1) }
        func endFrame(startingBefore b: Int) -> Int { min(segments, ceilDiv(b + half, hop)) }
        let hasSignal = z1 > z0
        let kZ0 = hasSignal ? firstFrame(endingAfter: z0) : 0
        let kZ1 = hasSignal ? endFrame(startingBefore: z1) : 0
        let kO0 = firstFrame(endingAfter: keepStart)
        let kO1 = endFrame(startingBefore: keepEnd)
        let kM0 = max(0, kO0 - timeRadius)
        let kM1 = min(segments, kO1 + timeRadius)
        let kA = hasSignal ? min(kM0, kZ0) : kM0
        let kB = hasSignal ? max(kM1, kZ1) : kM1
        let stored = kB - kA
        let stride = alignedStride(2 * bins)

        // 1-2. Forward STFT of the stored frames (frames without signal are zero) and, in the
        // same pass while each spectrum is in cache, the mask of frames kM0 ..< kM1 before
        // smoothing (non-stationary: the forward half of its running mean).
        let spectra = ws.spectra.reserve(stored * stride)
        let geometry = ChunkFrames(source: source.baseAddress!, chunkStart: i1, z0: z0, z1: z1, kZ0: kZ0, kZ1: kZ1,
                                   kA: kA, kB: kB, segments: segments)
        let tiles = MaskTiles(bins: bins, kM0: kM0, kM1: kM1, timeRadius: timeRadius, ws)
        if let thresholds {
            stationaryMask(geometry, spectra: spectra, stride: stride, thresholds: thresholds, tiles: tiles, ws)
        } else {
            nonStationaryMask(geometry, spectra: spectra, stride: stride, tiles: tiles, ws)
        }

        // 3. Smoothing (fftconvolve 'same' with zeros outside) for the output frames kO0 ..< kO1.
        let outFrames = kO1 - kO0
        let smoothedStride = alignedStride(bins)
        let smoothed = ws.smoothed.reserve(smoothedStride * alignedStride(max(outFrames, 1)))
        smoothMask(tiles, kO0: kO0, kO1: kO1, into: smoothed, stride: smoothedStride, ws)
        // Non-stationary applies prop_decrease after smoothing (stationary before).
        let gain = Float(thresholds == nil ? parameters.propDecrease : 1)
        let offset = Float(thresholds == nil ? 1 - parameters.propDecrease : 0)

        // 4. Masked spectra back to time, overlap-added over the kept part.
        let spectrum = ws.spectrum.reserve(stride)
        let frame = ws.frame.reserve(nFFT)
        let fftScratch = ws.fftScratch.reserve(fft.scratchCount)
        synthesisWindow.withUnsafeBufferPointer { sw in
            for k in max(kO0, kZ0)..<max(max(kO0, kZ0), min(kO1, kZ1)) {
                let row = spectra + (k - kA) * stride
                let m = smoothed + (k - kO0) * smoothedStride
                for f in 0..<bins {
                    let g = m[f] * gain + offset
                    spectrum[2 * f] = row[2 * f] * g
                    spectrum[2 * f + 1] = row[2 * f + 1] * g
                }
                fft.inverse(spectrum, frame, scratch: fftScratch)
                let start = k * hop - half
                let lo = max(0, keepStart - start)
                let hi = min(winLength, keepEnd - start)
                if lo < hi {
                    let out = output + (start - keepStart)
                    var i = lo
                    while i < hi {
                        out[i] += frame[i] * sw[i]
                        i &+= 1
                    }
                }
            }
        }

        // 5. Divide by the overlap-added squared window (where it is not tiny).
        let norm = inverseNorm(length: length, segments: segments, keepStart: keepStart, keepEnd: keepEnd, ws)
        for i in 0..<(keepEnd - keepStart) { output[i] *= norm[i] }
    }

    /// 1 / sum_k window[q - k hop]^2 over the frames covering each kept position (1 where the
    /// sum is <= 1e-10, as scipy.signal.istft leaves those samples undivided).
    func inverseNorm(length: Int, segments: Int, keepStart: Int, keepEnd: Int,
                     _ ws: SpectralGateWorkspace) -> UnsafeMutablePointer<Float> {
        let key = [length, segments, keepStart, keepEnd]
        let count = keepEnd - keepStart
        if ws.inverseNormKey == key, let pointer = ws.inverseNorm.pointer { return pointer }
        let norm = ws.inverseNorm.reserve(count)
        for i in 0..<count {
            let q = keepStart + i + half  // position in the boundary-extended signal
            let kLow = max(0, floorDiv(q - winLength, hop) + 1)
            let kHigh = min(segments - 1, floorDiv(q, hop))
            var sum = 0.0
            if kLow <= kHigh {
                for k in kLow...kHigh { sum += windowSquares[q - k * hop] }
            }
            norm[i] = sum > 1e-10 ? Float(1 / sum) : 1
        }
        ws.inverseNormKey = key
        return norm
    }

    /// Where the signal lies in a chunk's frames, for the forward pass: the chunk starts at
    /// signal index `chunkStart`; real samples are chunk positions z0 ..< z1, framed by kZ0 ..< kZ1;
    /// frames kA ..< kB are stored; the chunk has `segments` frames.
    struct ChunkFrames {
        var source: UnsafePointer<Float>
        var chunkStart: Int
        var z0: Int, z1: Int, kZ0: Int, kZ1: Int, kA: Int, kB: Int, segments: Int
    }

    /// The spectrum of stored frame `k` into `row` (zeros for a frame without signal).
    @inline(__always)
    func forwardFrame(_ k: Int, _ g: ChunkFrames, into row: UnsafeMutablePointer<Float>, _ frame: UnsafeMutablePointer<Float>,
                      _ fftScratch: UnsafeMutablePointer<Float>) {
        guard k >= g.kZ0, k < g.kZ1 else {
            row.update(repeating: 0, count: 2 * bins)
            return
        }
        fillFrame(frame, source: g.source, sourceStart: g.chunkStart, validStart: g.z0, validEnd: g.z1,
                  frameStart: k * hop - half)
        fft.forward(frame, row, scratch: fftScratch)
    }

    /// Forward STFT and stationary mask: 1 where the bin's dB (floored at its row's maximum
    /// - 80) is above the noise threshold, 0 elsewhere, then `mask * prop + (1 - prop)`.
    func stationaryMask(_ g: ChunkFrames, spectra: UnsafeMutablePointer<Float>, stride: Int,
                        thresholds: StationaryThresholds, tiles: MaskTiles, _ ws: SpectralGateWorkspace) {
        let frame = ws.frame.reserve(nFFT)
        let fftScratch = ws.fftScratch.reserve(fft.scratchCount)
        // Each row's maximum over the whole chunk (frames outside kA..<kB are zero).
        let rowMax = ws.rowMax.reserve(bins)
        rowMax.update(repeating: 0, count: bins)
        // noisereduce's `mask * prop + (1 - prop)`: a bin above the threshold (mask 1) keeps
        // prop + (1 - prop), which float64 gives within one ulp of 1 and float32 rounds to 1.
        let on: Float = 1
        let off = Float(1 - parameters.propDecrease)
        let bins = self.bins
        thresholds.power.withUnsafeBufferPointer { thresholdBuffer in
            let threshold = thresholdBuffer.baseAddress!
            for k in g.kA..<g.kB {
                let row = spectra + (k - g.kA) * stride
                forwardFrame(k, g, into: row, frame, fftScratch)
                if k >= tiles.kM0 && k < tiles.kM1 {
                    // The row's maximum and the mask without the row floor (patched below).
                    let m = tiles.row(k)
                    var f = 0
                    while f < bins {
                        let re = row[2 &* f], im = row[2 &* f &+ 1]
                        let p = re * re + im * im
                        rowMax[f] = max(rowMax[f], p)
                        m[f] = p > threshold[f] ? on : off
                        f &+= 1
                    }
                    if tiles.endsTileForward(k) { tiles.flush(k) }
                } else {
                    var f = 0
                    while f < bins {
                        let re = row[2 &* f], im = row[2 &* f &+ 1]
                        rowMax[f] = max(rowMax[f], re * re + im * im)
                        f &+= 1
                    }
                }
            }
        }
        // A row whose maximum - 80 dB is above the threshold is open over the whole chunk.
        let columns = tiles.kM1 - tiles.kM0
        for f in 0..<bins {
            let top = 20 * log10(Double(rowMax[f].squareRoot()) * scale + SpectralGate.eps)
            if top - 80 > thresholds.decibels[f] {
                (tiles.transposed + f * tiles.width + timeRadius).update(repeating: on, count: columns)
            }
        }
    }

    /// Forward STFT and non-stationary mask: `sigmoid((|X| - s) / s - thresh_n_mult, slope)`
    /// where `s` is `scipy.signal.filtfilt([b], [1, b - 1], |X|, padtype=None)` along time over
    /// the whole chunk (zero frames included: they pull the running mean down near the chunk's
    /// ends).
    func nonStationaryMask(_ g: ChunkFrames, spectra: UnsafeMutablePointer<Float>, stride: Int,
                           tiles: MaskTiles, _ ws: SpectralGateWorkspace) {
        let frame = ws.frame.reserve(nFFT)
        let fftScratch = ws.fftScratch.reserve(fft.scratchCount)
        let kM0 = tiles.kM0, kM1 = tiles.kM1, segments = g.segments, kA = g.kA, kB = g.kB
        let bins = self.bins
        let stored = kB - kA
        let magnitudes = ws.magnitudes.reserve(max(stored, 1) * bins)
        // Float state: the one-pole filter's rounding error stays within ~1/(1 - pole) ulps
        // (about 1e-5 relative at 2 s / 256-sample hops), far inside the 1e-3 budget, and the
        // loops run twice as wide as in double.
        let b = Float(poleB)
        let c = -(b - 1)           // lfilter: y[n] = b x[n] - a1 y[n-1], a1 = b - 1
        let zi = 1 - b             // lfilter_zi: steady state for a unit step
        let state = ws.state.reserve(bins)
        // Forward pass over all frames, kept from kM0 on for the backward pass. Frames before kA
        // carry no data: the state is exactly 0 there (b 0 + zi 0, then c 0).
        state.update(repeating: 0, count: bins)
        let kept = segments - kM0
        let forward = ws.forwardIIR.reserve(max(kept, 1) * bins)
        for k in kA..<kB {
            let row = spectra + (k - kA) * stride
            forwardFrame(k, g, into: row, frame, fftScratch)
            let x = magnitudes + (k - kA) * bins
            if k == 0 {
                for f in 0..<bins {
                    let re = row[2 &* f], im = row[2 &* f &+ 1]
                    let v = (re * re + im * im).squareRoot()
                    x[f] = v
                    state[f] = b * v + zi * v
                }
            } else {
                var f = 0
                while f < bins {
                    let re = row[2 &* f], im = row[2 &* f &+ 1]
                    let v = (re * re + im * im).squareRoot()
                    x[f] = v
                    state[f] = b * v + c * state[f]
                    f &+= 1
                }
            }
            if k >= kM0 {
                (forward + (k - kM0) * bins).update(from: state, count: bins)
            }
        }
        for k in kB..<segments {
            var f = 0
            while f < bins { state[f] = c * state[f]; f &+= 1 }
            if k >= kM0 {
                (forward + (k - kM0) * bins).update(from: state, count: bins)
            }
        }
        // Backward pass, from the last frame down to kM0; the mask as it goes.
        let shift = -parameters.threshNMultNonstationary
        let slope = parameters.sigmoidSlopeNonstationary
        let negSlope = Float(-slope), shiftF = Float(shift)
        var k = segments - 1
        while k >= kM0 {
            let y = forward + (k - kM0) * bins
            if k == segments - 1 {
                for f in 0..<bins {
                    let v = y[f]
                    state[f] = b * v + zi * v
                }
            } else {
                var f = 0
                while f < bins { state[f] = b * y[f] + c * state[f]; f &+= 1 }
            }
            if k < kM1 {
                let m = tiles.row(k)
                let hasData = k >= kA && k < kB
                let x = magnitudes + (k - kA) * bins
                // ratio = (|X| - s) / s; 0/0 (a row that is zero over the whole chunk) is NaN in
                // the library and spreads through the smoothing; here such a bin counts as fully
                // below its mean (ratio -1).
                if hasData {
                    // The quotient first, then a select: branch-free, so the loop vectorizes.
                    var f = 0
                    while f < bins {
                        let s = state[f]
                        let q = (x[f] - s) / s
                        m[f] = ((s > 0 ? q : -1) + shiftF) * negSlope
                        f &+= 1
                    }
                    f = 0
                    while f < bins {
                        m[f] = 1 / (1 + FastMath.exp(m[f]))
                        f &+= 1
                    }
                } else {
                    let value = 1 / (1 + FastMath.exp((-1 + shiftF) * negSlope))
                    m.update(repeating: value, count: bins)
                }
                // Running down in time, frame k completes its tile when it is the tile's first.
                if (k - kM0) & 15 == 0 { tiles.flush(k) }
            }
            k -= 1
        }
    }

    /// The separable triangular smoothing of frames kO0 ..< kO1 of the mask (known over
    /// kM0 ..< kM1, zero outside 0 ..< segments and outside the frequency axis), into
    /// `smoothed[(k - kO0) * stride + f]` (rows for frames up to kO0 + 16 * ceil(count / 16)).
    ///
    /// Works on the bin-major mask (see `MaskTiles`) so that both passes vectorize: along
    /// frequency, two running box sums whose steps are whole rows (a triangle of radius r is a
    /// box of r + 1 convolved with itself: O(1) per value instead of 2r + 1 multiply-adds);
    /// along time, the few direct taps over contiguous frames, 16 frames per vector. The
    /// result goes back frame-major through 16 x 16 register transposes.
    func smoothMask(_ tiles: MaskTiles, kO0: Int, kO1: Int, into smoothed: UnsafeMutablePointer<Float>,
                    stride smoothedStride: Int, _ ws: SpectralGateWorkspace) {
        let outFrames = kO1 - kO0
        let outWidth = alignedStride(max(outFrames, 1))
        guard outFrames > 0 else { return }
        let bins = self.bins
        let tr = timeRadius
        let r = freqRadius
        let width = tiles.width
        let transposed = tiles.transposed
        // Along frequency: B1[j] = sum rows j-r ... j, B2[j] = sum B1[j-r ... j], over rows
        // zero-padded by 2r before and r after; the triangle centred on bin f is B2[f + 3r].
        let ring = r + 2  // B1 rows j - r - 1 ... j are alive at once
        let first = ws.boxRows.reserve(ring * width)
        let zero = ws.zeroRow.reserve(width)
        let sum2 = ws.boxSum2.reserve(width)
        zero.update(repeating: 0, count: width)
        sum2.update(repeating: 0, count: width)
        let norm = 1 / Float((r + 1) * (r + 1))
        let taps = 2 * tr
        let weights = ws.taps.reserve(taps + 1)
        for t in 0...taps { weights[t] = timeTaps[t] * norm }  // the 1/(r+1)^2 folded into the taps
        let block = ws.block.reserve(16 * outWidth)
        let shift = kO0 - tiles.kM0  // output frame k is column (k - kM0) + tr; taps j in -tr...tr
        for j in 0..<(bins + 3 * r) {
            // B1 row j = B1 row j - 1 + input row j - 2r - input row j - 3r - 1, and B2 row j =
            // B2 row j - 1 + B1 row j - B1 row j - r - 1, in one pass; a missing row is the zero
            // row (x + 0 and x - 0 are x: the sums are never -0). Float running sums: a binary
            // (stationary) mask sums exactly; a sigmoid mask drifts by a few ulps of r + 1 over
            // the 513 rows, far below the 1e-3 budget.
            let add = j - 2 * r, drop = j - 3 * r - 1
            let addRow = UnsafePointer(add >= 0 && add < bins ? transposed + add * width : zero)
            let dropRow = UnsafePointer(drop >= 0 && drop < bins ? transposed + drop * width : zero)
            let previous = UnsafePointer(j >= 1 ? first + ((j - 1) % ring) * width : zero)
            let old = UnsafePointer(j - r - 1 >= 0 ? first + ((j - r - 1) % ring) * width : zero)
            let b1 = first + (j % ring) * width
            var c = 0
            while c < width {
                let value = (previous[c] + addRow[c]) - dropRow[c]
                b1[c] = value
                sum2[c] += value - old[c]
                c &+= 1
            }
            let f = j - 3 * r
            guard f >= 0 else { continue }
            // Along time, into line f % 16 of a block of 16 bins, sixteen frames at a time (the
            // last vector runs past outFrames into the spare columns, see MaskTiles).
            let out = block + (f & 15) * outWidth
            let sums = UnsafePointer(sum2 + shift)
            var i = 0
            // Four vectors at once: one accumulator's chain of adds would wait on each add.
            while i + 48 < outFrames {
                var s0 = SIMD16<Float>(repeating: 0), s1 = s0, s2 = s0, s3 = s0
                var t = 0
                while t <= taps {
                    let w = weights[t]
                    let p = UnsafeRawPointer(sums + (i &+ t))
                    s0 += p.loadUnaligned(as: SIMD16<Float>.self) * w
                    s1 += p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self) * w
                    s2 += p.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self) * w
                    s3 += p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self) * w
                    t &+= 1
                }
                let o = UnsafeMutableRawPointer(out + i)
                o.storeBytes(of: s0, as: SIMD16<Float>.self)
                o.storeBytes(of: s1, toByteOffset: 64, as: SIMD16<Float>.self)
                o.storeBytes(of: s2, toByteOffset: 128, as: SIMD16<Float>.self)
                o.storeBytes(of: s3, toByteOffset: 192, as: SIMD16<Float>.self)
                i &+= 64
            }
            while i < outFrames {
                var sum = SIMD16<Float>(repeating: 0)
                var t = 0
                while t <= taps {
                    sum += UnsafeRawPointer(sums + (i &+ t)).loadUnaligned(as: SIMD16<Float>.self) * weights[t]
                    t &+= 1
                }
                UnsafeMutableRawPointer(out + i).storeBytes(of: sum, as: SIMD16<Float>.self)
                i &+= 16
            }
            // A full block of 16 bins goes back frame-major; a partial last one too, its lines
            // past `bins` (zeroed) landing in the row padding.
            if f & 15 == 15 || f == bins - 1 {
                let f0 = f & ~15
                for line in ((f & 15) + 1)..<16 { (block + line * outWidth).update(repeating: 0, count: outWidth) }
                var i = 0
                while i < outFrames {
                    transpose16x16(block + i, sourceStride: outWidth, smoothed + i * smoothedStride + f0,
                                   destinationStride: smoothedStride)
                    i &+= 16
                }
            }
        }
    }
}
