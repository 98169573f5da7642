// The frequency branch's strided convolution (kernel 2s, stride s over F: 8 and 4 in
// HTDemucs) as a 2-tap convolution over polyphase rows, computed by Winograd's F(3, 2).
//
// Why: these convolutions are 4.4 of the default model's 79 GFLOP. Output row o is
//     y[o] = sum_k<2s w[k] x[s o + k - pad] = sum_r<s (w[r] x_r[o] + w[s + r] x_r[o + 1])
// with the phase rows x_r[n] = x[s n + r - pad]: a stride-1, 2-tap convolution over s Cin
// channels (ci, r). F(3, 2) computes three output rows from four phase rows with four products
// (the direct form needs six): per block of rows, four SGEMMs
//     M[xi] (Cout x columns) = U[xi] (Cout x s Cin) * V[xi] (s Cin x columns)
// with U = G (w[r], w[s + r]), V = B^T (x_r[3t], ..., x_r[3t + 3]), y = A^T M. The matrices are
// those of F(2, 3) transposed (a correlation's roles of filter and output swap), points 0, +-1
// and infinity: only adds and a halving folded into U, so the result differs from the direct
// convolution by rounding alone. Every transform combines whole rows over T (contiguous), so
// there is no gather. Not in OpenBLAS or any library packaged here, hence this file.

/// A strided convolution's weights `[Cout, Cin, 2s, 1]` as F(3, 2)'s four matrices over
/// polyphase rows: `U[xi][Cout][Cin * s]`, column `ci * s + r`.
struct PolyphaseWeights {
    /// The convolution's stride s along F (its kernel is 2s).
    let stride: Int
    let cout: Int
    let cin: Int
    /// `4 * cout * cin * stride` floats.
    let u: Parameter

    /// A transposed convolution's weight `[Cin, Cout, 2 stride, 1]` (the decoder's), as F(3, 2)
    /// over its output phases: output row `s n + r` of the full result is
    /// `W[.., r] x[n] + W[.., s + r] x[n - 1]`, a 2-tap convolution per phase r. Here
    /// `U[xi][Cout * s][Cin]`, row `co * s + r`.
    init(transposedWeight weight: UnsafePointer<Float>, cin: Int, cout: Int, stride s: Int) {
        self.stride = s
        self.cout = cout
        self.cin = cin
        let rows = cout * s
        var u = [Float](repeating: 0, count: 4 * rows * cin)
        for ci in 0..<cin {
            for co in 0..<cout {
                for r in 0..<s {
                    // Taps in correlation order over d[k] = x[n + k - 1]: h0 = W[s + r], h1 = W[r].
                    let h0 = weight[(ci * cout + co) * 2 * s + s + r], h1 = weight[(ci * cout + co) * 2 * s + r]
                    Self.transformTaps(h0, h1, into: &u, at: (co * s + r) * cin + ci, plane: rows * cin)
                }
            }
        }
        self.u = Parameter(shape: [4, rows, cin], values: u)
    }

    /// F(3, 2)'s G on the taps (h0, h1) of one 2-tap filter, `G = [[1, 0], [1/2, 1/2],
    /// [1/2, -1/2], [0, -1]]` (the halves of A^T folded in): its four points go to `u[at]`,
    /// `plane` floats apart.
    private static func transformTaps(_ h0: Float, _ h1: Float, into u: inout [Float], at: Int, plane: Int) {
        u[at] = h0
        u[plane + at] = (h0 + h1) / 2
        u[2 * plane + at] = (h0 - h1) / 2
        u[3 * plane + at] = -h1
    }

    /// From a PyTorch weight `[Cout, Cin, 2 stride, 1]`.
    init(weight: UnsafePointer<Float>, cout: Int, cin: Int, stride s: Int) {
        self.stride = s
        self.cout = cout
        self.cin = cin
        let k = cin * s
        var u = [Float](repeating: 0, count: 4 * cout * k)
        for co in 0..<cout {
            for ci in 0..<cin {
                for r in 0..<s {
                    let a = weight[(co * cin + ci) * 2 * s + r], b = weight[(co * cin + ci) * 2 * s + s + r]
                    Self.transformTaps(a, b, into: &u, at: co * k + ci * s + r, plane: cout * k)
                }
            }
        }
        self.u = Parameter(shape: [4, cout, k], values: u)
    }
}

extension Kernels {
    /// The convolution of `x [Cin, B, H, T]` with kernel `2s` and stride `s` over F, padding
    /// `pad` over F, none over T, then `epilogue` (`.none` or `.gelu`): `[Cout, B, Ho, T]`.
    static func polyphaseConv(_ x: Activation, _ w: PolyphaseWeights, bias: UnsafePointer<Float>?, pad: Int,
                              epilogue: ConvEpilogue) -> Activation {
        precondition(x.c == w.cin && epilogue != .glu, "polyphase convolution input")
        let s = w.stride, cout = w.cout, k = w.cin * s
        let h = x.f, t = x.t
        let ho = (h + 2 * pad - 2 * s) / s + 1
        let out = x.new(c: cout, f: ho, t: t)
        let tilesPerItem = (ho + 2) / 3  // three output rows per tile

        // Blocks of tiles of one item: about 2.4 MB of V and M (in L2 and L3: larger blocks
        // measured 2 % slower in all), a multiple of the workers, equal in size.
        let perTile = 4 * (k + cout) * t, budget = 600_000
        let (perBlock, blocksPerItem) = Parallel.equalBlocks(units: tilesPerItem, items: x.b,
                                                             maxPerBlock: budget / perTile)
        let blocks = x.b * blocksPerItem
        let parts = channelParts(blocks: blocks)
        let ld = perBlock * t
        let vFloats = 4 * k * ld, mFloats = 4 * ((cout + parts - 1) / parts) * ld
        let perWorker = vFloats + mFloats + t
        let workers = min(Parallel.workers, blocks * parts)
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)

        Parallel.forTiles(blocks * parts) { task, worker in
            let v = scratch.data + worker * perWorker
            let mm = v + vFloats
            let zeros = mm + mFloats
            zeros.update(repeating: 0, count: t)
            let block = task / parts, part = task % parts
            let co0 = cout * part / parts, co1 = cout * (part + 1) / parts
            let item = block / blocksPerItem
            let tile0 = (block % blocksPerItem) * perBlock
            let tiles = min(perBlock, tilesPerItem - tile0)
            let n = tiles * t

            // V[xi][ci s + r][j t ..< (j + 1) t] = B^T of phase rows 3 (tile0 + j) + 0...3.
            for ci in 0..<w.cin {
                let plane = UnsafePointer(x.at(ci, item))
                for r in 0..<s {
                    @inline(__always) func phaseRow(_ row: Int) -> UnsafePointer<Float> {
                        let hh = s * row + r - pad
                        return hh >= 0 && hh < h ? plane + hh * t : UnsafePointer(zeros)
                    }
                    let dst = v + (ci * s + r) * ld
                    for j in 0..<tiles {
                        let first = 3 * (tile0 + j)
                        inputTransformRows(phaseRow(first), phaseRow(first + 1), phaseRow(first + 2), phaseRow(first + 3),
                                           count: t, into: dst + j * t, pointStride: k * ld)
                    }
                }
            }

            pointProducts(4, u: w.u.data + co0 * k, rows: co1 - co0, k: k, uPlane: cout * k, v: v, into: mm, count: n, ld: ld)

            // y = A^T M per output row (three per tile), then bias and the epilogue.
            for co in co0..<co1 {
                let b = bias?[co] ?? 0
                for j in 0..<tiles {
                    let first = 3 * (tile0 + j)
                    let src = mm + (co - co0) * ld + j * t
                    let rows = min(3, ho - first)
                    let dst = out.at(co, item) + first * t
                    outputTransformRows(src, pointStride: (co1 - co0) * ld, count: t, rows: rows, into: dst)
                    let y = dst
                    switch epilogue {
                    case .gelu: for q in 0..<(rows * t) { y[q] = fastGelu(y[q] + b) }
                    default: for q in 0..<(rows * t) { y[q] += b }
                    }
                }
            }
        }
        return out
    }

    /// The transposed convolution of `x [Cin, B, Hi, T]` with kernel `2s` and stride `s` over F,
    /// keeping rows `pad ..< pad + keep` of the full `(Hi + 1) s` rows, then exact GELU if
    /// `gelu`: `[Cout, B, keep, T]`. Each output row is written once, by its phase: no col2im.
    static func polyphaseConvTranspose(_ x: Activation, _ w: PolyphaseWeights, bias: UnsafePointer<Float>?,
                                       pad: Int, keep: Int, gelu: Bool) -> Activation {
        precondition(x.c == w.cin, "polyphase transposed convolution input")
        let s = w.stride, cin = w.cin, cout = w.cout, rows = cout * s
        let hi = x.f, t = x.t
        let out = x.new(c: cout, f: keep, t: t)
        let tilesPerItem = (hi + 1 + 2) / 3  // phase rows n = 0...hi, three per tile

        let perTile = 4 * (cin + rows) * t, budget = 600_000
        let (perBlock, blocksPerItem) = Parallel.equalBlocks(units: tilesPerItem, items: x.b,
                                                             maxPerBlock: budget / perTile)
        let blocks = x.b * blocksPerItem
        let parts = channelParts(blocks: blocks)
        let ld = perBlock * t
        let vFloats = 4 * cin * ld, mFloats = 4 * ((cout + parts - 1) / parts) * s * ld
        let perWorker = vFloats + mFloats + t + 3 * t
        let workers = min(Parallel.workers, blocks * parts)
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)

        Parallel.forTiles(blocks * parts) { task, worker in
            let v = scratch.data + worker * perWorker
            let mm = v + vFloats
            let zeros = mm + mFloats
            let phaseRows = zeros + t  // three phase rows of one output phase
            zeros.update(repeating: 0, count: t)
            let block = task / parts, part = task % parts
            let co0 = cout * part / parts, co1 = cout * (part + 1) / parts
            let item = block / blocksPerItem
            let tile0 = (block % blocksPerItem) * perBlock
            let tiles = min(perBlock, tilesPerItem - tile0)
            let n = tiles * t

            // V[xi][ci][j t ..< (j + 1) t] = B^T of input rows 3 (tile0 + j) - 1 + 0...3.
            for ci in 0..<cin {
                let plane = UnsafePointer(x.at(ci, item))
                @inline(__always) func row(_ i: Int) -> UnsafePointer<Float> {
                    i >= 0 && i < hi ? plane + i * t : UnsafePointer(zeros)
                }
                for j in 0..<tiles {
                    let first = 3 * (tile0 + j) - 1
                    inputTransformRows(row(first), row(first + 1), row(first + 2), row(first + 3),
                                       count: t, into: v + ci * ld + j * t, pointStride: cin * ld)
                }
            }

            let partRows = (co1 - co0) * s
            pointProducts(4, u: w.u.data + co0 * s * cin, rows: partRows, k: cin, uPlane: rows * cin, v: v, into: mm,
                          count: n, ld: ld)

            // Phase r of channel co, rows n = 3 (tile0 + j) + i: output row s n + r - pad.
            for co in co0..<co1 {
                let b = bias?[co] ?? 0
                let plane = out.at(co, item)
                for r in 0..<s {
                    for j in 0..<tiles {
                        let first = 3 * (tile0 + j)
                        let count = min(3, hi + 1 - first)
                        outputTransformRows(mm + ((co - co0) * s + r) * ld + j * t, pointStride: partRows * ld, count: t,
                                            rows: count, into: phaseRows)
                        for i in 0..<count {
                            let o = s * (first + i) + r - pad
                            if o < 0 || o >= keep { continue }
                            let src = phaseRows + i * t, dst = plane + o * t
                            if gelu {
                                for q in 0..<t { dst[q] = fastGelu(src[q] + b) }
                            } else {
                                for q in 0..<t { dst[q] = src[q] + b }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// F(3, 2)'s B^T on four rows d0...d3 of `count` floats: point xi goes to
    /// `v[xi * pointStride ..< + count]` (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
    private static func inputTransformRows(_ d0: UnsafePointer<Float>, _ d1: UnsafePointer<Float>,
                                           _ d2: UnsafePointer<Float>, _ d3: UnsafePointer<Float>, count: Int,
                                           into v: UnsafeMutablePointer<Float>, pointStride: Int) {
        var j = 0
        while j < count {
            let c = min(16, count - j)
            let x0 = load16(d0 + j, c), x1 = load16(d1 + j, c), x2 = load16(d2 + j, c), x3 = load16(d3 + j, c)
            store16(x0 - x2, v + j, c)
            store16(x1 + x2, v + pointStride + j, c)
            store16(x2 - x1, v + 2 * pointStride + j, c)
            store16(x1 - x3, v + 3 * pointStride + j, c)
            j += 16
        }
    }

    /// Splits each block's output channels in `parts` when the blocks alone would leave a
    /// worker idle for a large share of the kernel (three blocks of rows on two workers at the
    /// default model's innermost level). Output channels, not time: these levels are bound by
    /// streaming U (4.7 MB), and halves of U cost no more than U; halves of T would pack all
    /// of U twice as often. The price is the input transform, done by both halves.
    private static func channelParts(blocks: Int) -> Int {
        let w = Parallel.workers
        return w > 1 && blocks % w != 0 && blocks < 4 * w ? w : 1
    }

    /// F(3, 2)'s A^T (with its halving folded into U): rows M0 + M1 + M2, M1 - M2, M1 + M2 + M3
    /// of `count` floats, the first `rows` of them written to `y`, `y + count`, `y + 2 count`.
    private static func outputTransformRows(_ m: UnsafePointer<Float>, pointStride: Int, count: Int, rows: Int,
                                            into y: UnsafeMutablePointer<Float>) {
        var j = 0
        while j < count {
            let c = min(16, count - j)
            let m0 = load16(m + j, c), m1 = load16(m + pointStride + j, c)
            let m2 = load16(m + 2 * pointStride + j, c), m3 = load16(m + 3 * pointStride + j, c)
            let sum = m1 + m2
            store16(m0 + sum, y + j, c)
            if rows > 1 { store16(m1 - m2, y + count + j, c) }
            if rows > 2 { store16(sum + m3, y + 2 * count + j, c) }
            j += 16
        }
    }

    /// Lanes `0..<count` of `p` (at most 16; the rest zero).
    @inline(__always)
    private static func load16(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD16<Float> {
        if count >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
        var v = SIMD16<Float>()
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    /// Stores lanes `0..<count` of `v` (at most 16) to `p`.
    @inline(__always)
    private static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count >= 16 {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
            return
        }
        for i in 0..<count { p[i] = v[i] }
    }
}
