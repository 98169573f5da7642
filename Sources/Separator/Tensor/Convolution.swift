// Convolutions on channel-major tensors as tiled SGEMMs: a 2-D convolution over (F, T) is
// `W[Cout, Cin*kh*kw] x columns[Cin*kh*kw, B*Ho*Wo]`, computed one tile of output columns at a
// time by each worker (Parallel.swift): im2col of the tile into the worker's scratch, one
// single-threaded SGEMM, then the epilogue (bias, GELU or GLU) on the tile the SGEMM just
// wrote, so neither the column matrix nor the pre-activation ever goes through main memory
// whole. Transposed convolutions are SGEMM + col2im per tile of input columns.
import COpenBLAS

/// Row-major SGEMM: `C = alpha * op(A) * op(B) + beta * C`.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c, blasint(ldc))
}

/// Geometry of a 2-D convolution over the (F, T) plane; a 1-D convolution over time has
/// `kh = 1, sh = 1, ph = 0`.
struct ConvGeometry {
    var kh = 1, kw = 1
    var sh = 1, sw = 1
    var ph = 0, pw = 0
    var dh = 1, dw = 1
    /// Extra zeros past the right end of the width axis (demucs pads time to a multiple of
    /// the stride before its time convolutions).
    var padRight = 0

    var taps: Int { kh * kw }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && padRight == 0 }

    func outHeight(_ h: Int) -> Int { (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1 }
    func outWidth(_ w: Int) -> Int { (w + 2 * pw + padRight - dw * (kw - 1) - 1) / sw + 1 }
}

/// What a convolution does to its output tile after the SGEMM (the bias is always added).
enum ConvEpilogue {
    /// Bias only.
    case none
    /// Bias, then exact GELU.
    case gelu
    /// Bias, then GLU over the output channels: the result has half the channels.
    case glu
}

/// Output columns per tile. Every tile's SGEMM packs the whole weight matrix again, at about
/// a fortieth of the speed it multiplies: tiles of 1024 columns keep that near 4 % (256 for
/// small weights measured 0.6 % slower in all). The tile's column matrix stays under 10 MB
/// (two of them fit the 32 MB L3). The tile count is a multiple of the workers, so they
/// finish together.
private func tileColumns(total: Int, kdim: Int, columnMatrix: Bool) -> Int {
    var columns = 1024
    if columnMatrix { columns = min(columns, max(128, 2_621_440 / kdim)) }
    var tiles = max(1, (total + columns - 1) / columns)
    tiles = (tiles + Parallel.workers - 1) / Parallel.workers * Parallel.workers
    columns = (total + tiles - 1) / tiles
    return min(total, max(16, (columns + 15) / 16 * 16))
}

extension Kernels {
    /// Convolution of `x [Cin, B, H, W]` with a PyTorch weight `[Cout, Cin, kh, kw]` (or
    /// `[Cout, Cin, k]`) and bias `[Cout]`, then `epilogue`: `[Cout, B, Ho, Wo]` (`Cout / 2`
    /// channels for `.glu`). With `rowTaps` the weight is laid out `[kh][Cout][Cin*kw]`
    /// (`ConvWeights.withRowTaps`) and a stride-1 convolution over F skips most of its im2col.
    static func conv(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     cout: Int, _ g: ConvGeometry, epilogue: ConvEpilogue = .none,
                     rowTaps: Bool = false) -> Activation {
        let ho = g.outHeight(x.f), wo = g.outWidth(x.t)
        let outChannels = epilogue == .glu ? cout / 2 : cout
        let out = x.new(c: outChannels, f: ho, t: wo)
        let n = out.columns
        let pointwise = g.isPointwise
        let kdim = x.c * g.taps
        // Row taps: im2col along time only (Cin*kw rows) over the tile's output rows plus the
        // kh - 1 rows around them; each of the kh row offsets is then one SGEMM on that matrix
        // shifted by whole rows, accumulated. The column matrix is kh times smaller.
        let byRows = rowTaps && g.kh > 1
        precondition(!rowTaps || (g.sh == 1 && g.dh == 1), "row taps need stride and dilation 1 along F")
        let rowK = x.c * g.kw
        // Tiles: runs of output columns; with row taps, runs of whole output rows of one item.
        var tile: Int, rowsPerTile = 0, tilesPerItem = 0, tiles: Int
        if byRows {
            let columns = tileColumns(total: n, kdim: kdim, columnMatrix: true)
            rowsPerTile = max(1, columns / wo)
            tilesPerItem = (ho + rowsPerTile - 1) / rowsPerTile
            tiles = x.b * tilesPerItem
            tile = rowsPerTile * wo
        } else {
            // A pointwise convolution without GLU needs no tile in cache: one tile per worker,
            // so each packs the weights once.
            tile = pointwise && epilogue != .glu
                ? min(n, max(16, (n + Parallel.workers - 1) / Parallel.workers))
                : tileColumns(total: n, kdim: kdim, columnMatrix: !pointwise)
            tiles = (n + tile - 1) / tile
        }
        let workers = min(Parallel.workers, tiles)
        // Per worker: the tile's column matrix (unless pointwise) and, for GLU, its
        // pre-activation.
        let columnFloats = pointwise ? 0 : byRows ? rowK * (rowsPerTile + g.kh - 1) * wo : kdim * tile
        let preFloats = epilogue == .glu ? cout * tile : 0
        let perWorker = columnFloats + preFloats
        let scratch = x.new(c: 1, b: 1, f: 1, t: max(1, perWorker * workers))
        let nIn = x.columns
        Parallel.forTiles(tiles) { index, worker in
            let mine = scratch.data + worker * perWorker
            var c0 = index * tile, nc = min(tile, n - c0)
            var item = 0, oh0 = 0, rows = 0
            if byRows {
                item = index / tilesPerItem
                oh0 = (index % tilesPerItem) * rowsPerTile
                rows = min(rowsPerTile, ho - oh0)
                c0 = (item * ho + oh0) * wo
                nc = rows * wo
            }
            // C: the output tile itself, or the worker's pre-activation for GLU, filled with
            // the bias first: the SGEMMs then accumulate onto it (beta 1), which spares
            // OpenBLAS's own pass that zeroes C for beta 0 and the epilogue's bias pass.
            let c = epilogue == .glu ? mine + columnFloats : out.data + c0
            let ldc = epilogue == .glu ? nc : n
            for ch in 0..<cout { (c + ch * ldc).update(repeating: bias?[ch] ?? 0, count: nc) }
            if pointwise {
                sgemm(m: cout, n: nc, k: kdim, a: weight, lda: kdim, b: x.data + c0, ldb: nIn, beta: 1, c: c, ldc: ldc)
            } else if byRows {
                let spanRows = rows + g.kh - 1
                timeColumns(x, g, item: item, firstRow: oh0 - g.ph, rows: spanRows, wo: wo, into: mine)
                for ki in 0..<g.kh {
                    sgemm(m: cout, n: nc, k: rowK, a: weight + ki * cout * rowK, lda: rowK,
                          b: mine + ki * wo, ldb: spanRows * wo, beta: 1, c: c, ldc: ldc)
                }
            } else {
                im2col(x, g, ho: ho, wo: wo, columns: c0..<(c0 + nc), into: mine)
                sgemm(m: cout, n: nc, k: kdim, a: weight, lda: kdim, b: mine, ldb: nc, beta: 1, c: c, ldc: ldc)
            }
            switch epilogue {
            case .none:
                break
            case .gelu:
                for ch in 0..<cout {
                    let row = c + ch * n
                    for j in 0..<nc { row[j] = fastGelu(row[j]) }
                }
            case .glu:
                let half = cout / 2
                for ch in 0..<half {
                    let a = c + ch * nc, gate = c + (ch + half) * nc, o = out.data + ch * n + c0
                    for j in 0..<nc { o[j] = a[j] * fastSigmoid(gate[j]) }
                }
            }
        }
        return out
    }

    /// The time-only im2col of input rows `firstRow ..< firstRow + rows` of one item (rows
    /// outside the input are zeros): `[Cin*kw, rows*Wo]`, for stride 1 along F.
    private static func timeColumns(_ x: Activation, _ g: ConvGeometry, item: Int, firstRow: Int, rows: Int,
                                    wo: Int, into cols: UnsafeMutablePointer<Float>) {
        let H = x.f, W = x.t
        let span = rows * wo
        for ci in 0..<x.c {
            for kj in 0..<g.kw {
                let dst = cols + (ci * g.kw + kj) * span
                let off = kj * g.dw - g.pw
                for r in 0..<rows {
                    let d = dst + r * wo, h = firstRow + r
                    if h < 0 || h >= H {
                        d.update(repeating: 0, count: wo)
                        continue
                    }
                    gatherRow(x.at(ci, item) + h * W, width: W, stride: g.sw, offset: off, positions: 0..<wo, into: d)
                }
            }
        }
    }

    /// A linear layer on tokens `x [in, B, F, T]` (a 1x1 convolution): `W[out, in] x + b`.
    static func linear(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                       outChannels: Int, epilogue: ConvEpilogue = .none) -> Activation {
        conv(x, weight: weight, bias: bias, cout: outChannels, ConvGeometry(), epilogue: epilogue)
    }

    /// Columns `columns` (flat output positions `(b * Ho + ho) * Wo + wo`) of the im2col
    /// matrix of a convolution: `[Cin*kh*kw, columns.count]`.
    private static func im2col(_ x: Activation, _ g: ConvGeometry, ho: Int, wo: Int, columns: Range<Int>,
                               into cols: UnsafeMutablePointer<Float>) {
        let H = x.f, W = x.t
        let nc = columns.count
        for ci in 0..<x.c {
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let dst = cols + ((ci * g.kh + ki) * g.kw + kj) * nc - columns.lowerBound
                    let off = kj * g.dw - g.pw
                    var c = columns.lowerBound
                    while c < columns.upperBound {
                        // One output row's share of the tile: positions o0..<o1 of row r.
                        let r = c / wo, o0 = c % wo
                        let o1 = min(wo, o0 + columns.upperBound - c)
                        let d = dst + c - o0  // d[o] is the column of output position o
                        let item = r / ho, h = (r % ho) * g.sh + ki * g.dh - g.ph
                        if h < 0 || h >= H {
                            (d + o0).update(repeating: 0, count: o1 - o0)
                        } else {
                            gatherRow(x.at(ci, item) + h * W, width: W, stride: g.sw, offset: off, positions: o0..<o1, into: d)
                        }
                        c += o1 - o0
                    }
                }
            }
        }
    }

    /// `d[o] = src[o * stride + offset]` for output positions `o` in `positions`, zero where
    /// that index falls outside `0 ..< width` (the zero padding of a convolution's row).
    @inline(__always)
    static func gatherRow(_ src: UnsafePointer<Float>, width: Int, stride: Int, offset: Int, positions: Range<Int>,
                          into d: UnsafeMutablePointer<Float>) {
        let o0 = positions.lowerBound, o1 = positions.upperBound
        if stride == 1 {
            // Inside the row: 0 <= o + offset < width.
            let lo = min(o1, max(o0, -offset)), hi = max(lo, min(o1, width - offset))
            if lo > o0 { (d + o0).update(repeating: 0, count: lo - o0) }
            if hi > lo { (d + lo).update(from: src + lo + offset, count: hi - lo) }
            if o1 > hi { (d + hi).update(repeating: 0, count: o1 - hi) }
        } else {
            for o in o0..<o1 {
                let w = o * stride + offset
                d[o] = (w >= 0 && w < width) ? src[w] : 0
            }
        }
    }

    /// Transposed convolution (no padding, no dilation) of `x [Cin, B, Hi, Wi]` with a PyTorch
    /// weight `[Cin, Cout, kh, kw]`, keeping only output rows `hKeep` and columns `wKeep` of the
    /// full `[(Hi-1)*sh+kh, (Wi-1)*sw+kw]` result (the crop demucs applies right after), then
    /// exact GELU if `gelu`.
    ///
    /// Neighbouring input positions write overlapping outputs (kernel 8, stride 4), so the
    /// workers split the output channels, not the columns: each owns its channels' outputs
    /// and its slice of the weights, and walks all input columns in tiles (SGEMM into its
    /// scratch, then col2im into its channels).
    static func convTranspose(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              cout: Int, _ g: ConvGeometry, hKeep: Range<Int>, wKeep: Range<Int>,
                              gelu: Bool = false) -> Activation {
        if g.kh == 1 && g.sh == 1 && g.sw > 1 && g.kw == 2 * g.sw && hKeep == 0..<x.f {
            return convTransposeByPhase(x, weight: weight, bias: bias, cout: cout, stride: g.sw, keep: wKeep, gelu: gelu)
        }
        let cin = x.c, hi = x.f, wi = x.t
        let hk = hKeep.count, wk = wKeep.count
        let out = x.new(c: cout, f: hk, t: wk)
        let m = cout * g.taps
        let nIn = x.columns, nOut = out.columns
        let parts = min(Parallel.workers, cout)
        let widest = (cout + parts - 1) / parts
        let tile = min(nIn, max(256, 262_144 / (widest * g.taps)))
        let scratch = x.new(c: 1, b: 1, f: 1, t: widest * g.taps * tile * parts)
        Parallel.forTiles(parts) { part, worker in
            let co0 = cout * part / parts, co1 = cout * (part + 1) / parts
            let rows = (co1 - co0) * g.taps
            let cols = scratch.data + worker * widest * g.taps * tile
            for co in co0..<co1 { (out.data + co * nOut).update(repeating: bias?[co] ?? 0, count: nOut) }
            var c0 = 0
            while c0 < nIn {
                let nc = min(tile, nIn - c0)
                // cols[(co, ki, kj), column] for this worker's channels: A^T's columns co0*taps...
                sgemm(transA: true, m: rows, n: nc, k: cin, a: weight + co0 * g.taps, lda: m,
                      b: x.data + c0, ldb: nIn, beta: 0, c: cols, ldc: nc)
                for co in co0..<co1 {
                    if g.kh == 1 && g.sw > 1 {
                        // Strided along time: per input position, its kw outputs in a row (one
                        // pass over the output instead of kw strided ones).
                        let src = cols + (co - co0) * g.kw * nc - c0
                        var c = c0
                        while c < c0 + nc {
                            let item = c / wi, w0 = c % wi
                            let w1 = min(wi, w0 + c0 + nc - c)
                            let s = src + c - w0  // s[kj * nc + w]: tap kj of position w
                            c += w1 - w0
                            let dst = out.at(co, item) - wKeep.lowerBound  // dst[w * sw + kj]
                            for w in w0..<w1 {
                                let first = w * g.sw
                                if first >= wKeep.lowerBound && first + g.kw <= wKeep.upperBound {
                                    for kj in 0..<g.kw { dst[first + kj] += s[kj * nc + w] }
                                } else {
                                    for kj in 0..<g.kw where wKeep.contains(first + kj) { dst[first + kj] += s[kj * nc + w] }
                                }
                            }
                        }
                        continue
                    }
                    for ki in 0..<g.kh {
                        for kj in 0..<g.kw {
                            let src = cols + (((co - co0) * g.kh + ki) * g.kw + kj) * nc - c0
                            let off = kj - wKeep.lowerBound
                            var c = c0
                            while c < c0 + nc {
                                // Input positions w0..<w1 of row r (item, input frequency).
                                let r = c / wi, w0 = c % wi
                                let w1 = min(wi, w0 + c0 + nc - c)
                                let s = src + c - w0  // s[w] is input position w of row r
                                c += w1 - w0
                                let item = r / hi, h = (r % hi) * g.sh + ki - hKeep.lowerBound
                                if h < 0 || h >= hk { continue }
                                let dst = out.at(co, item) + h * wk
                                if g.sw == 1 {
                                    let lo = min(w1, max(w0, -off)), up = max(lo, min(w1, wk - off))
                                    for w in lo..<up { dst[w + off] += s[w] }
                                } else {
                                    for w in w0..<w1 {
                                        let o = w * g.sw + off
                                        if o >= 0 && o < wk { dst[o] += s[w] }
                                    }
                                }
                            }
                        }
                    }
                }
                c0 += nc
            }
            if gelu {
                let p = out.data + co0 * nOut
                for j in 0..<(co1 - co0) * nOut { p[j] = fastGelu(p[j]) }
            }
        }
        return out
    }

    /// The transposed convolution over time with kernel `2s` and stride `s` (the time branch's
    /// decoders) of `x [Cin, B, F, Wi]` with a PyTorch weight `[Cin, Cout, 2s]`, keeping output
    /// positions `keep` of `(Wi + 1) s`, then exact GELU if `gelu`: `[Cout, B, F, keep.count]`.
    ///
    /// Output position `s n + r` has two terms: tap `r` of input `n` and tap `s + r` of input
    /// `n - 1`. One SGEMM gives all `2s` taps of a run of inputs (as in `convTranspose`); then
    /// each output is written once, phase by phase interleaved, with its bias and GELU, while
    /// the run is in cache (no col2im's read-modify-write, no separate bias and GELU passes).
    static func convTransposeByPhase(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                     cout: Int, stride s: Int, keep: Range<Int>, gelu: Bool) -> Activation {
        let cin = x.c, wi = x.t, sequences = x.b * x.f
        let taps = 2 * s, m = cout * taps
        let wk = keep.count
        precondition(keep.lowerBound >= 0 && keep.upperBound <= (wi + 1) * s, "transposed convolution crop")
        let out = x.new(c: cout, f: x.f, t: wk)
        let nIn = x.columns, nOut = out.columns
        let parts = min(Parallel.workers, cout)
        let widest = (cout + parts - 1) / parts
        // Phase columns n = 0 ... Wi per sequence, in runs; a run's SGEMM also covers input n0 - 1.
        let run = min(wi + 1, max(256, 262_144 / (widest * taps)))
        let runs = (wi + run) / run
        let chunk = 256  // phase columns summed and interleaved at a time (s = 4)
        let perWorker = widest * taps * (run + 1) + 4 * chunk
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * parts)
        Parallel.forTiles(parts) { part, worker in
            let co0 = cout * part / parts, co1 = cout * (part + 1) / parts
            let rows = (co1 - co0) * taps
            let p = scratch.data + worker * perWorker
            let sums = p + widest * taps * (run + 1)
            for sequence in 0..<sequences {
                for index in 0..<runs {
                    let n0 = index * run, n1 = min(wi + 1, n0 + run)
                    let j0 = max(0, n0 - 1), j1 = min(wi, n1)
                    let nc = j1 - j0
                    // p[(co - co0) taps + k][j - j0]: tap k of input j, for this worker's channels.
                    sgemm(transA: true, m: rows, n: nc, k: cin, a: weight + co0 * taps, lda: m,
                          b: x.data + sequence * wi + j0, ldb: nIn, beta: 0, c: p, ldc: nc)
                    for co in co0..<co1 {
                        let b = bias?[co] ?? 0
                        let tap = p + (co - co0) * taps * nc - j0  // tap[k * nc + j]: tap k of input j
                        let row = out.data + co * nOut + sequence * wk - keep.lowerBound  // row[s n + r]
                        @inline(__always) func value(_ n: Int, _ r: Int) -> Float {
                            var v = b
                            if n < wi { v += tap[r * nc + n] }
                            if n >= 1 { v += tap[(s + r) * nc + n - 1] }
                            return v
                        }
                        // Vectorized where both taps exist and all s outputs are kept.
                        var fastLo = max(n0, 1, (keep.lowerBound + s - 1) / s)
                        var fastHi = min(n1, wi, keep.upperBound / s)
                        if s != 4 || fastHi <= fastLo { fastLo = n1; fastHi = n1 }
                        for n in n0..<fastLo {
                            for r in 0..<s where keep.contains(s * n + r) {
                                row[s * n + r] = gelu ? fastGelu(value(n, r)) : value(n, r)
                            }
                        }
                        var n = fastLo
                        while n < fastHi {
                            let count = min(chunk, fastHi - n)
                            for r in 0..<4 {
                                let a = tap + r * nc + n, c = tap + (4 + r) * nc + n - 1, d = sums + r * chunk
                                for q in 0..<count { d[q] = b + a[q] + c[q] }
                            }
                            let y = row + 4 * n
                            interleave4(sums, sums + chunk, sums + 2 * chunk, sums + 3 * chunk, count, into: y)
                            if gelu { for q in 0..<(4 * count) { y[q] = fastGelu(y[q]) } }
                            n += count
                        }
                        for n in fastHi..<n1 {
                            for r in 0..<s where keep.contains(s * n + r) {
                                row[s * n + r] = gelu ? fastGelu(value(n, r)) : value(n, r)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
