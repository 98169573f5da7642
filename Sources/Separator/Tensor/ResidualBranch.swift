// One DConv residual branch fused per tile of sequences:
// `x += scale * GLU(GN2(conv2(GELU(GN1(conv1(x))))))`, where every GroupNorm has one group and
// takes its statistics per sequence (one (item, frequency row) of `T` steps) and conv1 runs
// along time only. Both GroupNorms and both convolutions therefore stay inside a sequence:
// a worker can run the whole branch on a few sequences in its cache, and the `[2C, B*F*T]`
// output of conv2, the largest tensor of the frequency branch, never goes through memory.

/// The weights of one DConv branch, as raw pointers for the kernel.
struct ResidualBranchWeights {
    let dilation: Int
    let hidden: Int
    /// conv1's weight by tap, `[3][hidden][C]` (`DConv` lays it out at load).
    let conv1Taps: UnsafePointer<Float>, bias1: UnsafePointer<Float>
    let norm1Weight: UnsafePointer<Float>, norm1Bias: UnsafePointer<Float>
    let conv2: UnsafePointer<Float>, bias2: UnsafePointer<Float>
    let norm2Weight: UnsafePointer<Float>, norm2Bias: UnsafePointer<Float>
    let scale: UnsafePointer<Float>
}

/// Floats of scratch one sequence of the fused branch needs at most (beyond it, the layer
/// falls back to whole-tensor passes).
let residualBranchSequenceBudget = 1 << 21

extension Kernels {
    /// Scratch floats per sequence of `length` steps for a branch on `channels` channels.
    static func residualBranchFloats(channels: Int, hidden: Int, length: Int) -> Int {
        (hidden + 2 * channels) * length
    }

    /// Runs one DConv branch in place on `x [C, B, F, T]` (sequences: B*F rows of T).
    static func residualBranch(_ x: Activation, _ w: ResidualBranchWeights) {
        let c = x.c, hidden = w.hidden, length = x.t, sequences = x.b * x.f
        let n = x.columns
        let perSequence = residualBranchFloats(channels: c, hidden: hidden, length: length)
        // Sequences per tile: the tile's scratch near L2 (1 MB), at least 4 tiles per worker.
        var perTile = max(1, 196_608 / perSequence)
        perTile = min(perTile, max(1, sequences / (4 * Parallel.workers)))
        let tiles = (sequences + perTile - 1) / perTile
        let workers = min(Parallel.workers, tiles)
        let perWorker = perSequence * perTile
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)
        let d = w.dilation
        precondition(d < length, "DConv dilation not below the sequence length")
        Parallel.forTiles(tiles) { tile, worker in
            let s0 = tile * perTile, rows = min(perTile, sequences - s0)
            let nc = rows * length, c0 = s0 * length
            let h = scratch.data + worker * perWorker, y = h + hidden * nc
            // conv1 (kernel 3, dilation d, zero padding d within each sequence) without im2col:
            // one SGEMM per tap on the tile's columns shifted by -d, 0, +d (each accumulating
            // onto the bias, beta 1), then the products that reached across a boundary between
            // two sequences of the tile are taken out again (2 d columns per boundary).
            for ch in 0..<hidden { (h + ch * nc).update(repeating: w.bias1[ch], count: nc) }
            let tap0 = w.conv1Taps, tap1 = tap0 + hidden * c, tap2 = tap1 + hidden * c
            let xs = x.data + c0
            sgemm(m: hidden, n: nc, k: c, a: tap1, lda: c, b: xs, ldb: n, beta: 1, c: h, ldc: nc)
            sgemm(m: hidden, n: nc - d, k: c, a: tap0, lda: c, b: xs, ldb: n, beta: 1, c: h + d, ldc: nc)
            sgemm(m: hidden, n: nc - d, k: c, a: tap2, lda: c, b: xs + d, ldb: n, beta: 1, c: h, ldc: nc)
            for r in 1..<max(1, rows) {
                let start = r * length
                for p in 0..<d {
                    // Column start + p got tap 0 of the previous sequence's input start + p - d;
                    // column start - d + p got tap 2 of this sequence's input start + p.
                    for o in 0..<hidden {
                        var early: Float = 0, late: Float = 0
                        for ci in 0..<c {
                            early += tap0[o * c + ci] * xs[ci * n + start + p - d]
                            late += tap2[o * c + ci] * xs[ci * n + start + p]
                        }
                        h[o * nc + start + p] -= early
                        h[o * nc + start - d + p] -= late
                    }
                }
            }
            normalizeSequences(h, channels: hidden, rows: rows, length: length, stride: nc,
                               weight: w.norm1Weight, shift: w.norm1Bias, gelu: true)
            for ch in 0..<2 * c { (y + ch * nc).update(repeating: w.bias2[ch], count: nc) }
            sgemm(m: 2 * c, n: nc, k: hidden, a: w.conv2, lda: hidden, b: h, ldb: nc, beta: 1, c: y, ldc: nc)
            normalizeSequences(y, channels: 2 * c, rows: rows, length: length, stride: nc,
                               weight: w.norm2Weight, shift: w.norm2Bias, gelu: false)
            for ch in 0..<c {
                let s = w.scale[ch]
                let o = x.data + ch * n + c0, a = y + ch * nc, g = y + (ch + c) * nc
                for j in 0..<nc { o[j] += s * (a[j] * fastSigmoid(g[j])) }
            }
        }
    }

    /// GroupNorm(1, channels) on `p [channels, stride]` (its first `rows * length` columns) per
    /// sequence of `length` columns (biased variance,
    /// eps 1e-5 inside the square root, sums in double), the affine `weight`/`shift`, and
    /// optionally exact GELU; in place, on the calling thread.
    private static func normalizeSequences(_ p: UnsafeMutablePointer<Float>, channels: Int, rows: Int, length: Int,
                                           stride: Int, weight: UnsafePointer<Float>,
                                           shift: UnsafePointer<Float>, gelu: Bool) {
        let count = Double(channels * length)
        for r in 0..<rows {
            var sum = 0.0
            for ch in 0..<channels { sum += laneSum(p + ch * stride + r * length, length) }
            let mean = sum / count
            var squares = 0.0
            for ch in 0..<channels {
                squares += laneSumOfSquares(p + ch * stride + r * length, length, mean: Float(mean))
            }
            let rstd = 1.0 / (squares / count + 1e-5).squareRoot()
            for ch in 0..<channels {
                let q = p + ch * stride + r * length
                let a = Float(rstd * Double(weight[ch]))
                let b = Float(Double(shift[ch]) - mean * rstd * Double(weight[ch]))
                if gelu {
                    for j in 0..<length { q[j] = fastGelu(q[j] * a + b) }
                } else {
                    for j in 0..<length { q[j] = q[j] * a + b }
                }
            }
        }
    }
}
