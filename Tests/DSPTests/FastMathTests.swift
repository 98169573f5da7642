@testable import DSP
import Foundation
import XCTest

/// The vectorizable kernels of FastMath against glibc's (double precision) functions.
final class FastMathTests: XCTestCase {
    func testLog10MatchesGlibc() {
        var worst = 0.0
        // Powers, their neighbours and a sweep over the range the mel stage sees (1e-10 ... 1e12).
        var values: [Float] = [1, 2, 10, 0.5, 1.414_213_5, 1.414_213_7, 1e-10, 1e12, .leastNormalMagnitude,
                               .greatestFiniteMagnitude]
        var x: Float = 1e-10
        while x < 1e12 {
            values.append(x)
            x *= 1.000_7
        }
        for v in values {
            let exact = Foundation.log10(Double(v))
            let ours = Double(FastMath.log10(v))
            // Relative to the result, or absolute near log10 = 0 (x near 1).
            worst = max(worst, abs(ours - exact) / max(abs(exact), 1))
        }
        print("FastMath.log10: worst error \(worst) (relative, absolute below 1)")
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(FastMath.log10(.infinity), .infinity)
        XCTAssertTrue(FastMath.log10(.nan).isNaN)
    }

    /// The one fast exp of the product (denoise's sigmoid mask, the separator's GLU sigmoid).
    func testExpMatchesGlibc() {
        var worst = 0.0
        var x: Float = -87
        while x <= 88 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(FastMath.exp(x)) - exact) / exact)
            x += 0.000_37
        }
        print("FastMath.exp: worst relative error \(worst)")
        XCTAssertLessThan(worst, 3e-7)
        // Clamped outside [-87, 88], as the sigmoids need (no inf, no NaN).
        XCTAssertEqual(FastMath.exp(-1000), FastMath.exp(-87))
        XCTAssertEqual(FastMath.exp(1000), FastMath.exp(88))
        XCTAssertTrue(FastMath.exp(88).isFinite)
    }
}
