#if canImport(Glibc)
import Glibc
#endif

/// Analysis windows for the STFTs.
public enum Window {
    /// The Hann window of `length` samples, `0.5 - 0.5 cos(2 pi n / M)`.
    ///
    /// `periodic` (M = length, the "DFT-even" window that torch.hann_window and
    /// scipy.signal.get_window('hann') return by default) or symmetric (M = length - 1).
    /// Computed in double precision, then rounded once.
    public static func hann(_ length: Int, periodic: Bool = true) -> [Float] {
        precondition(length >= 0)
        if length == 1 { return [1] }
        let m = Double(periodic ? length : length - 1)
        return (0..<length).map { n in Float(0.5 - 0.5 * cos(2.0 * Double.pi * Double(n) / m)) }
    }
}

/// Integer division rounding toward minus infinity (Swift's `/` truncates toward zero).
@inline(__always)
func floorDiv(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}

/// Integer division rounding toward plus infinity.
@inline(__always)
func ceilDiv(_ a: Int, _ b: Int) -> Int {
    -floorDiv(-a, b)
}
