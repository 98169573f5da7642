@testable import DSP
import XCTest

/// The half-size real FFT of the denoise stage against FFTW's own r2c / c2r (`RealFFT`) on the
/// same frames: same layout and scaling, equal to float rounding.
final class HalfSizeRealFFTTests: XCTestCase {
    func testMatchesFFTWRealTransforms() {
        for size in [4, 6, 128, 512, 1024, 1000, 2048, 9, 15] {
            let ours = HalfSizeRealFFT(size: size, planning: .estimate)
            let fftw = RealFFT(size: size)
            let bins = size / 2 + 1
            let frame = RealFFT.allocate(size), copy = RealFFT.allocate(size)
            let spectrum = RealFFT.allocate(2 * bins), reference = RealFFT.allocate(2 * bins)
            let scratch = RealFFT.allocate(ours.scratchCount)
            let back = RealFFT.allocate(size), backReference = RealFFT.allocate(size)
            defer { [frame, copy, spectrum, reference, scratch, back, backReference].forEach(RealFFT.free) }
            var state: UInt64 = 0x1234_5678 &+ UInt64(size)
            for i in 0..<size {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                frame[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
            }
            copy.update(from: frame, count: size)
            fftw.forward(frame, reference)
            ours.forward(copy, spectrum, scratch: scratch)
            var worst: Float = 0, peak: Float = 0
            for i in 0..<(2 * bins) {
                worst = max(worst, abs(spectrum[i] - reference[i]))
                peak = max(peak, abs(reference[i]))
            }
            XCTAssertLessThan(worst, 1e-5 * peak, "forward, size \(size)")
            print("half-size real FFT \(size): forward max difference \(worst / peak) of the peak")
            // The inverse of the reference spectrum (c2r destroys its input: ours runs first and
            // must keep it).
            ours.inverse(reference, back, scratch: scratch)
            fftw.inverse(reference, backReference)
            var worstBack: Float = 0, peakBack: Float = 0
            for i in 0..<size {
                worstBack = max(worstBack, abs(back[i] - backReference[i]))
                peakBack = max(peakBack, abs(backReference[i]))
                // c2r is N times the signal.
                XCTAssertEqual(back[i] / Float(size), frame[i], accuracy: 1e-5, "round trip, size \(size)")
            }
            XCTAssertLessThan(worstBack, 1e-5 * peakBack, "inverse, size \(size)")
        }
    }
}
