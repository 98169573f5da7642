import CFFTW
#if canImport(Glibc)
import Glibc
#endif

/// Serializes FFTW's planner: `fftwf_plan_*` and `fftwf_destroy_plan` are not thread-safe,
/// while executing a finished plan on new arrays (`fftwf_execute_dft_r2c` and friends) is.
/// Every plan in the process is made and destroyed under this one lock.
enum FFTWPlanner {
    private static let lock = PlannerLock()

    /// Runs `body` with exclusive access to FFTW's planner.
    static func withLock<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

/// A tiny pthread mutex (Foundation-free: DSP does not import Foundation).
private final class PlannerLock: @unchecked Sendable {
    // @unchecked: the mutex is only touched through pthread calls, which are thread-safe.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// A real-to-complex FFT of one size, forward and inverse, planned once and reused.
///
/// The plans are made with `FFTW_ESTIMATE` on scratch buffers and executed with the
/// new-array interface, so one `RealFFT` serves any number of threads at once as long as
/// each passes its own (SIMD-aligned, see `RealFFT.allocate`) buffers.
///
/// Scaling is FFTW's: `forward` computes the plain DFT `X[k] = sum x[n] e^{-2 pi i k n / N}`,
/// `inverse` computes the unnormalized inverse (the result is `N` times the signal).
public final class RealFFT: @unchecked Sendable {
    // @unchecked: the plans are immutable after init and FFTW's execute functions are
    // thread-safe for distinct arrays; creation and destruction go through FFTWPlanner.

    /// The transform length (real samples).
    public let size: Int
    /// The number of complex bins, `size / 2 + 1`.
    public let bins: Int
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// How much effort FFTW spends choosing an algorithm.
    public enum Planning: Sendable {
        /// `FFTW_ESTIMATE`: a heuristic plan, made instantly.
        case estimate
        /// `FFTW_MEASURE`: times candidate algorithms once (tens of milliseconds per size, then
        /// remembered by FFTW for the process); the inverse transform gets markedly faster.
        case measure
    }

    /// Plans the forward and inverse transforms of `size` real samples.
    public convenience init(size: Int) {
        self.init(size: size, planning: .estimate)
    }

    /// Plans the forward and inverse transforms of `size` real samples with `planning` effort.
    public init(size: Int, planning: Planning) {
        precondition(size > 0, "FFT size must be positive")
        self.size = size
        self.bins = size / 2 + 1
        let real = fftwf_alloc_real(size)!
        let complex = fftwf_alloc_complex(size / 2 + 1)!
        defer { fftwf_free(real); fftwf_free(complex) }
        // MEASURE overwrites the arrays while planning: they are scratch here.
        let flags = planning == .measure ? UInt32(FFTW_MEASURE) : UInt32(FFTW_ESTIMATE)
        (forwardPlan, inversePlan) = FFTWPlanner.withLock {
            (fftwf_plan_dft_r2c_1d(Int32(size), real, complex, flags)!,
             fftwf_plan_dft_c2r_1d(Int32(size), complex, real, flags)!)
        }
    }

    deinit {
        FFTWPlanner.withLock {
            fftwf_destroy_plan(forwardPlan)
            fftwf_destroy_plan(inversePlan)
        }
    }

    /// Forward transform: `size` reals in, `bins` complex values out as interleaved
    /// (re, im) pairs (`2 * bins` floats). Both buffers must come from `RealFFT.allocate`.
    /// FFTW may not overwrite `input` here (r2c never does).
    public func forward(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        output.withMemoryRebound(to: fftwf_complex.self, capacity: bins) { out in
            fftwf_execute_dft_r2c(forwardPlan, input, out)
        }
    }

    /// Inverse transform: `bins` interleaved complex values in, `size` reals out (scaled by
    /// `size`). FFTW's c2r destroys its input. Both buffers must come from `RealFFT.allocate`.
    public func inverse(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        input.withMemoryRebound(to: fftwf_complex.self, capacity: bins) { inp in
            fftwf_execute_dft_c2r(inversePlan, inp, output)
        }
    }

    /// Allocates `count` floats with the alignment FFTW's SIMD kernels expect; free with
    /// `RealFFT.free`.
    public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        fftwf_alloc_real(max(count, 1))!
    }

    /// Frees a buffer from `RealFFT.allocate`.
    public static func free(_ pointer: UnsafeMutablePointer<Float>) {
        fftwf_free(pointer)
    }
}
