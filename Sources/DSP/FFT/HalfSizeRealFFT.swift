import CFFTW
#if canImport(Glibc)
import Glibc
#endif

/// A real FFT of even size N computed as FFTW's complex FFT of N/2 points plus the split step
/// that turns it into the N/2 + 1 bins of the real signal (and back): the same results as
/// `RealFFT` (FFTW's r2c / c2r, same layout and scaling) to float rounding, about twice as fast
/// at the denoise stage's 1024 points.
///
/// Why by hand: with the FFTW 3.3.10 of the field (Debian 12), the 1024-point r2c / c2r plans
/// are a radix-2 real step over SSE2 `hc2c` codelets plus a copy (`fftwf_cpy2d`), 460 / 420 ns
/// here, while the 512-point complex transform runs on AVX codelets in 220 ns; the split step
/// below is one vectorized loop over the bins (about 60 ns). The denoise stage does 1260 such
/// transforms per 10-s channel, most of its time. Odd sizes, where the split does not apply,
/// use `RealFFT`.
///
/// The split (x real of length N = 2M, z[n] = x[2n] + i x[2n+1], Z = DFT_M(z), W = e^(-2 pi i / N)):
/// `X[k] = (Z[k] + conj Z[M-k]) / 2 + W^k (Z[k] - conj Z[M-k]) / 2i`, and its inverse
/// `Z[k] = (X[k] + conj X[M-k]) + i W^-k (X[k] - conj X[M-k])`, whose unnormalized M-point
/// inverse DFT is `N x[2n] + i N x[2n+1]`, FFTW's c2r scaling.
final class HalfSizeRealFFT: @unchecked Sendable {
    // @unchecked: the plans and tables are immutable after init and FFTW's execute functions
    // are thread-safe for distinct arrays; planning and destruction go through FFTWPlanner.

    /// The transform length (real samples).
    let size: Int
    /// The number of complex bins, `size / 2 + 1`.
    let bins: Int
    /// Floats of scratch memory `forward` and `inverse` need (`RealFFT.allocate`-aligned).
    var scratchCount: Int { size + 2 }

    private let half: Int
    private let forwardPlan: fftwf_plan?
    private let inversePlan: fftwf_plan?
    private let fallback: RealFFT?
    /// cos and sin of 2 pi k / N, k = 0 ... N/2.
    private let cosines: [Float]
    private let sines: [Float]

    /// Plans the complex transforms of `size / 2` points (or `RealFFT` for an odd size).
    init(size: Int, planning: RealFFT.Planning) {
        precondition(size > 0, "FFT size must be positive")
        self.size = size
        self.bins = size / 2 + 1
        self.half = size / 2
        guard size % 2 == 0, size >= 4 else {
            fallback = RealFFT(size: size, planning: planning)
            forwardPlan = nil
            inversePlan = nil
            cosines = []
            sines = []
            return
        }
        fallback = nil
        let m = size / 2
        cosines = (0...m).map { Float(cos(2 * Double.pi * Double($0) / Double(size))) }
        sines = (0...m).map { Float(sin(2 * Double.pi * Double($0) / Double(size))) }
        let a = fftwf_alloc_complex(m + 1)!
        let b = fftwf_alloc_complex(m + 1)!
        defer { fftwf_free(a); fftwf_free(b) }
        // MEASURE overwrites the arrays while planning: they are scratch here. The inputs are
        // ours to destroy (a filled frame, a scratch spectrum): more algorithms qualify.
        let flags = (planning == .measure ? UInt32(FFTW_MEASURE) : UInt32(FFTW_ESTIMATE)) | UInt32(FFTW_DESTROY_INPUT)
        (forwardPlan, inversePlan) = FFTWPlanner.withLock {
            (fftwf_plan_dft_1d(Int32(m), a, b, FFTW_FORWARD, flags)!,
             fftwf_plan_dft_1d(Int32(m), a, b, FFTW_BACKWARD, flags)!)
        }
    }

    deinit {
        if let forwardPlan, let inversePlan {
            FFTWPlanner.withLock {
                fftwf_destroy_plan(forwardPlan)
                fftwf_destroy_plan(inversePlan)
            }
        }
    }

    /// Forward transform: `size` reals in (overwritten), `bins` interleaved complex values out,
    /// FFTW's r2c layout and scaling. All three buffers come from `RealFFT.allocate` / an
    /// aligned `Scratch`; `scratch` holds `scratchCount` floats.
    @inline(__always)
    func forward(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>) {
        guard let forwardPlan else {
            fallback!.forward(input, output)
            return
        }
        input.withMemoryRebound(to: fftwf_complex.self, capacity: half) { zIn in
            scratch.withMemoryRebound(to: fftwf_complex.self, capacity: half) { zOut in
                fftwf_execute_dft(forwardPlan, zIn, zOut)
            }
        }
        let m = half
        let z = UnsafePointer(scratch)
        output[0] = z[0] + z[1]
        output[1] = 0
        output[2 * m] = z[0] - z[1]
        output[2 * m + 1] = 0
        cosines.withUnsafeBufferPointer { cosT in
            sines.withUnsafeBufferPointer { sinT in
                var k = 1
                while k < m {
                    let j = m &- k
                    let ar = z[2 &* k], ai = z[2 &* k &+ 1], cr = z[2 &* j], ci = z[2 &* j &+ 1]
                    let er = (ar + cr) * 0.5, ei = (ai - ci) * 0.5
                    let or = (ai + ci) * 0.5, oi = (cr - ar) * 0.5
                    let c = cosT[k], s = sinT[k]
                    output[2 &* k] = er + (c * or + s * oi)
                    output[2 &* k &+ 1] = ei + (c * oi - s * or)
                    k &+= 1
                }
            }
        }
    }

    /// Inverse transform: `bins` interleaved complex values in (kept; the imaginary parts of
    /// bins 0 and N/2 are ignored, as c2r does), `size` reals out, scaled by `size` (FFTW's
    /// c2r). Buffers as for `forward`.
    @inline(__always)
    func inverse(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>) {
        guard let inversePlan else {
            fallback!.inverse(input, output)
            return
        }
        let m = half
        let x = UnsafePointer(input)
        scratch[0] = x[0] + x[2 * m]
        scratch[1] = x[0] - x[2 * m]
        cosines.withUnsafeBufferPointer { cosT in
            sines.withUnsafeBufferPointer { sinT in
                var k = 1
                while k < m {
                    let j = m &- k
                    let ar = x[2 &* k], ai = x[2 &* k &+ 1], cr = x[2 &* j], ci = x[2 &* j &+ 1]
                    let sr = ar + cr, si = ai - ci
                    let dr = ar - cr, di = ai + ci
                    let c = cosT[k], s = sinT[k]
                    scratch[2 &* k] = sr - (dr * s + di * c)
                    scratch[2 &* k &+ 1] = si + (dr * c - di * s)
                    k &+= 1
                }
            }
        }
        scratch.withMemoryRebound(to: fftwf_complex.self, capacity: half) { zIn in
            output.withMemoryRebound(to: fftwf_complex.self, capacity: half) { zOut in
                fftwf_execute_dft(inversePlan, zIn, zOut)
            }
        }
    }
}
