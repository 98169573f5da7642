// Numeric kernels of HTDemucs on channel-major tensors (see Activation.swift): convolutions as
// im2col + OpenBLAS SGEMM, transposed convolutions as SGEMM + col2im, group/layer norms,
// exact GELU, GLU, softmax and multi-head attention.
//
// Hand-written because no Swift library offers these on OpenBLAS; the arithmetic follows
// PyTorch's CPU kernels where their rounding matters (see docs/separator.md).
import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

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

/// Floats of im2col columns built at once: bounds the scratch memory of a convolution
/// (the GEMM then runs on blocks of output rows, writing in place with `ldc`).
private let columnBudget = 1 << 21

enum Kernels {
    // MARK: Convolutions

    /// Convolution of `x [Cin, B, H, W]` with a PyTorch weight `[Cout, Cin, kh, kw]` (or
    /// `[Cout, Cin, k]`) and bias `[Cout]`: `[Cout, B, Ho, Wo]`.
    static func conv(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     cout: Int, _ g: ConvGeometry) -> Activation {
        let cin = x.c, H = x.f, W = x.t
        let ho = g.outHeight(H), wo = g.outWidth(W)
        let out = x.new(c: cout, f: ho, t: wo)
        let n = out.columns
        fillRows(out.data, rows: cout, columns: n, bias: bias)
        let kdim = cin * g.taps
        if g.isPointwise {
            sgemm(m: cout, n: n, k: cin, a: weight, lda: cin, b: x.data, ldb: n,
                  beta: 1, c: out.data, ldc: n)
            return out
        }
        let rowsTotal = x.b * ho
        let rowsPerBlock = max(1, min(rowsTotal, columnBudget / max(1, kdim * wo)))
        x.new(c: 1, b: 1, f: 1, t: kdim * rowsPerBlock * wo).withData { cols in
            var r0 = 0
            while r0 < rowsTotal {
                let r1 = min(rowsTotal, r0 + rowsPerBlock)
                let ncols = (r1 - r0) * wo
                im2col(x, g, ho: ho, wo: wo, rows: r0..<r1, into: cols)
                sgemm(m: cout, n: ncols, k: kdim, a: weight, lda: kdim, b: cols, ldb: ncols,
                      beta: 1, c: out.data + r0 * wo, ldc: n)
                r0 = r1
            }
        }
        return out
    }

    /// A convolution immediately followed by GLU over its output channels (demucs's
    /// "rewrite" layers when no GroupNorm sits between): `[Cout/2, B, Ho, Wo]`. Runs on blocks
    /// of output columns so the `[Cout, B*Ho*Wo]` pre-activation never exists whole.
    static func convGLU(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        cout: Int, _ g: ConvGeometry) -> Activation {
        let cin = x.c, H = x.f, W = x.t
        let ho = g.outHeight(H), wo = g.outWidth(W)
        let half = cout / 2
        let out = x.new(c: half, f: ho, t: wo)
        let n = out.columns, nIn = x.columns
        let kdim = cin * g.taps
        let pointwise = g.isPointwise
        let rowsTotal = x.b * ho
        let rowsPerBlock = max(1, min(rowsTotal, columnBudget / max(1, max(pointwise ? 0 : kdim, cout) * wo)))
        let blockColumns = rowsPerBlock * wo
        let cols = pointwise ? nil : x.new(c: 1, b: 1, f: 1, t: kdim * blockColumns)
        let pre = x.new(c: 1, b: 1, f: 1, t: cout * blockColumns)
        var r0 = 0
        while r0 < rowsTotal {
            let r1 = min(rowsTotal, r0 + rowsPerBlock)
            let ncols = (r1 - r0) * wo
            fillRows(pre.data, rows: cout, columns: ncols, bias: bias)
            if let cols {
                im2col(x, g, ho: ho, wo: wo, rows: r0..<r1, into: cols.data)
                sgemm(m: cout, n: ncols, k: kdim, a: weight, lda: kdim, b: cols.data, ldb: ncols,
                      beta: 1, c: pre.data, ldc: ncols)
            } else {
                sgemm(m: cout, n: ncols, k: kdim, a: weight, lda: kdim, b: x.data + r0 * wo, ldb: nIn,
                      beta: 1, c: pre.data, ldc: ncols)
            }
            let p = pre.data, offset = r0 * wo
            Parallel.forRanges(half, cost: 4 * ncols) { channels in
                for ch in channels {
                    let a = p + ch * ncols, gate = p + (ch + half) * ncols, o = out.data + ch * n + offset
                    for j in 0..<ncols { o[j] = a[j] * fastSigmoid(gate[j]) }
                }
            }
            r0 = r1
        }
        return out
    }

    /// Columns of output rows `rows` (row = b * Ho + ho) of a convolution: `[Cin*kh*kw, rows*Wo]`.
    private static func im2col(_ x: Activation, _ g: ConvGeometry, ho: Int, wo: Int, rows: Range<Int>,
                               into cols: UnsafeMutablePointer<Float>) {
        let H = x.f, W = x.t
        let ncols = rows.count * wo
        Parallel.forRanges(x.c, cost: g.taps * ncols) { channels in
        for ci in channels {
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let dst = cols + ((ci * g.kh + ki) * g.kw + kj) * ncols
                    let off = kj * g.dw - g.pw
                    for r in rows {
                        let item = r / ho, oh = r % ho
                        let h = oh * g.sh + ki * g.dh - g.ph
                        let d = dst + (r - rows.lowerBound) * wo
                        if h < 0 || h >= H {
                            d.update(repeating: 0, count: wo)
                            continue
                        }
                        let src = x.at(ci, item) + h * W
                        if g.sw == 1 {
                            let lo = min(wo, max(0, -off)), hi = max(lo, min(wo, W - off))
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { (d + lo).update(from: src + lo + off, count: hi - lo) }
                            if hi < wo { (d + hi).update(repeating: 0, count: wo - hi) }
                        } else {
                            for o in 0..<wo {
                                let w = o * g.sw + off
                                d[o] = (w >= 0 && w < W) ? src[w] : 0
                            }
                        }
                    }
                }
            }
        }
        }
    }

    /// Transposed convolution (no padding, no dilation) of `x [Cin, B, Hi, Wi]` with a PyTorch
    /// weight `[Cin, Cout, kh, kw]`, keeping only output rows `hKeep` and columns `wKeep` of the
    /// full `[(Hi-1)*sh+kh, (Wi-1)*sw+kw]` result (the crop demucs applies right after).
    static func convTranspose(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              cout: Int, _ g: ConvGeometry, hKeep: Range<Int>, wKeep: Range<Int>) -> Activation {
        let cin = x.c, hi = x.f, wi = x.t
        let hk = hKeep.count, wk = wKeep.count
        let out = x.new(c: cout, f: hk, t: wk)
        fillRows(out.data, rows: cout, columns: out.columns, bias: bias)
        let m = cout * g.taps
        let rowsTotal = x.b * hi
        let rowsPerBlock = max(1, min(rowsTotal, columnBudget / max(1, m * wi)))
        let nIn = x.columns
        x.new(c: 1, b: 1, f: 1, t: m * rowsPerBlock * wi).withData { cols in
            var r0 = 0
            while r0 < rowsTotal {
                let r1 = min(rowsTotal, r0 + rowsPerBlock)
                let ncols = (r1 - r0) * wi
                sgemm(transA: true, m: m, n: ncols, k: cin, a: weight, lda: m,
                      b: x.data + r0 * wi, ldb: nIn, beta: 0, c: cols, ldc: ncols)
                Parallel.forRanges(cout, cost: g.taps * ncols) { outChannels in
                for co in outChannels {
                    for ki in 0..<g.kh {
                        for kj in 0..<g.kw {
                            let src = cols + ((co * g.kh + ki) * g.kw + kj) * ncols
                            for r in r0..<r1 {
                                let item = r / hi, ih = r % hi
                                let h = ih * g.sh + ki - hKeep.lowerBound
                                if h < 0 || h >= hk { continue }
                                let dst = out.at(co, item) + h * wk
                                let s = src + (r - r0) * wi
                                let off = kj - wKeep.lowerBound
                                if g.sw == 1 {
                                    let lo = min(wi, max(0, -off)), up = max(lo, min(wi, wk - off))
                                    for w in lo..<up { dst[w + off] += s[w] }
                                } else {
                                    for w in 0..<wi {
                                        let o = w * g.sw + off
                                        if o >= 0 && o < wk { dst[o] += s[w] }
                                    }
                                }
                            }
                        }
                    }
                }
                }
                r0 = r1
            }
        }
        return out
    }

    /// Fills each of `rows` rows of `columns` floats with its bias (or zero).
    static func fillRows(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, bias: UnsafePointer<Float>?) {
        Parallel.forRanges(rows, cost: columns) { range in
            for r in range { (p + r * columns).update(repeating: bias?[r] ?? 0, count: columns) }
        }
    }

    /// A linear layer on tokens `x [in, B, F, T]` (a 1x1 convolution): `W[out, in] x + b`.
    static func linear(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outChannels: Int) -> Activation {
        conv(x, weight: weight, bias: bias, cout: outChannels, ConvGeometry())
    }

    // MARK: Normalizations and activations

    /// GroupNorm (biased variance, eps inside the square root, per-channel affine), in place,
    /// optionally followed by exact GELU. Statistics per item over the group's channels and
    /// the item's `plane` floats, accumulated in double. By default items are the batch items
    /// (statistics over F x T); DConv passes `items: B*F, plane: T` (per frequency row).
    static func groupNorm(_ x: Activation, groups: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          eps: Double = 1e-5, gelu applyGelu: Bool = false,
                          items: Int? = nil, plane: Int? = nil) {
        let items = items ?? x.b, plane = plane ?? x.plane
        precondition(items * plane == x.columns)
        let stride = x.columns, c = x.c
        let cg = c / groups
        let count = Double(cg * plane)
        // Per (channel, item) partial sums, in parallel over channels; then per group.
        var partial = [Double](repeating: 0, count: c * items)
        var mean = [Double](repeating: 0, count: groups * items)
        var rstd = [Double](repeating: 0, count: groups * items)
        partial.withUnsafeMutableBufferPointer { part in
            let part = part.baseAddress!
            Parallel.forRanges(c, cost: stride) { channels in
                for ch in channels {
                    for item in 0..<items { part[ch * items + item] = laneSum(x.data + ch * stride + item * plane, plane) }
                }
            }
            for g in 0..<groups {
                for item in 0..<items {
                    var s = 0.0
                    for ch in g * cg..<(g + 1) * cg { s += part[ch * items + item] }
                    mean[g * items + item] = s / count
                }
            }
            mean.withUnsafeBufferPointer { meanP in
                let meanP = meanP.baseAddress!
                Parallel.forRanges(c, cost: stride) { channels in
                    for ch in channels {
                        let g = ch / cg
                        for item in 0..<items {
                            part[ch * items + item] = laneSumOfSquares(x.data + ch * stride + item * plane, plane,
                                                                       mean: Float(meanP[g * items + item]))
                        }
                    }
                }
            }
            for g in 0..<groups {
                for item in 0..<items {
                    var s = 0.0
                    for ch in g * cg..<(g + 1) * cg { s += part[ch * items + item] }
                    rstd[g * items + item] = 1.0 / (s / count + eps).squareRoot()
                }
            }
        }
        mean.withUnsafeBufferPointer { meanP in
            rstd.withUnsafeBufferPointer { rstdP in
                let meanP = meanP.baseAddress!, rstdP = rstdP.baseAddress!
                Parallel.forRanges(c, cost: stride * (applyGelu ? 8 : 1)) { channels in
                    for ch in channels {
                        let g = ch / cg
                        for item in 0..<items {
                            let m = meanP[g * items + item], r = rstdP[g * items + item]
                            let scale = Float(r * Double(weight[ch]))
                            let shift = Float(Double(bias[ch]) - m * r * Double(weight[ch]))
                            let p = x.data + ch * stride + item * plane
                            if applyGelu {
                                for j in 0..<plane { p[j] = fastGelu(p[j] * scale + shift) }
                            } else {
                                for j in 0..<plane { p[j] = p[j] * scale + shift }
                            }
                        }
                    }
                }
            }
        }
    }

    /// LayerNorm over the channel axis of tokens `x [C, B, F, T]` (each column a token), in place.
    static func layerNorm(_ x: Activation, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float = 1e-5) {
        let n = x.columns, c = x.c
        x.new(c: 2, b: 1, f: 1, t: n).withData { stats in
            let mean = stats, rstd = stats + n
            mean.update(repeating: 0, count: n)
            for ch in 0..<c {
                let p = x.data + ch * n
                for j in 0..<n { mean[j] += p[j] }
            }
            let inv = 1 / Float(c)
            for j in 0..<n { mean[j] *= inv }
            rstd.update(repeating: 0, count: n)
            for ch in 0..<c {
                let p = x.data + ch * n
                for j in 0..<n { let d = p[j] - mean[j]; rstd[j] += d * d }
            }
            for j in 0..<n { rstd[j] = 1 / (rstd[j] * inv + eps).squareRoot() }
            for ch in 0..<c {
                let p = x.data + ch * n
                let w = weight[ch], b = bias[ch]
                for j in 0..<n { p[j] = (p[j] - mean[j]) * rstd[j] * w + b }
            }
        }
    }

    /// Exact GELU, `x/2 (1 + erf(x/sqrt 2))`, as `torch.nn.functional.gelu` (approximate='none').
    @inline(__always)
    static func gelu(_ x: Float) -> Float {
        fastGelu(x)
    }

    /// Exact GELU in place.
    static func gelu(_ x: Activation) {
        let p = x.data
        Parallel.forRanges(x.count, cost: 8) { range in
            for i in range { p[i] = fastGelu(p[i]) }
        }
    }

    /// ReLU in place.
    static func relu(_ x: Activation) {
        let p = x.data
        for i in 0..<x.count { p[i] = max(p[i], 0) }
    }

    /// GLU over channels: the first half times the sigmoid of the second half.
    static func glu(_ x: Activation) -> Activation {
        let half = x.c / 2
        let out = x.new(c: half, f: x.f, t: x.t)
        let n = x.columns
        Parallel.forRanges(half, cost: 4 * n) { channels in
            for ch in channels {
                let a = x.data + ch * n, g = x.data + (ch + half) * n, o = out.data + ch * n
                for j in 0..<n { o[j] = a[j] * fastSigmoid(g[j]) }
            }
        }
        return out
    }

    /// `x += scale[c] * GLU(y)[c]`: DConv's GLU, LayerScale and residual add in one pass.
    static func addScaledGLU(_ x: Activation, _ y: Activation, scale: UnsafePointer<Float>) {
        let n = x.columns, half = x.c
        precondition(y.c == 2 * half && y.columns == n)
        Parallel.forRanges(half, cost: 4 * n) { channels in
            for ch in channels {
                let s = scale[ch]
                let o = x.data + ch * n, a = y.data + ch * n, g = y.data + (ch + half) * n
                for j in 0..<n { o[j] += s * (a[j] * fastSigmoid(g[j])) }
            }
        }
    }

    /// `x += scale[c] * y` (LayerScale'd residual), channel-major.
    static func addScaled(_ x: Activation, _ y: Activation, scale: UnsafePointer<Float>?) {
        let n = x.columns
        Parallel.forRanges(x.c, cost: n) { channels in
            for ch in channels {
                let s = scale?[ch] ?? 1
                let a = x.data + ch * n, b = y.data + ch * n
                for j in 0..<n { a[j] += s * b[j] }
            }
        }
    }

    /// Softmax of each of `rows` rows of `n` floats, in place.
    static func softmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        Parallel.forRanges(rows, cost: 8 * n) { range in
            for r in range {
                let row = p + r * n
                let m = laneMax(row, n)
                for j in 0..<n { row[j] = fastExp(row[j] - m) }
                let inv = Float(1 / laneSum(row, n))
                for j in 0..<n { row[j] *= inv }
            }
        }
    }

    // MARK: Attention

    /// Multi-head attention of `torch.nn.MultiheadAttention` (batch_first, no mask, no
    /// dropout): queries from `q [C, B, Lq]`, keys and values from `kv [C, B, Lk]` (tokens
    /// flattened over F x T). `inProj [3C, C]`, `inBias [3C]`, `outProj [C, C]`, `outBias [C]`.
    static func attention(query q: Activation, keyValue kv: Activation, heads: Int,
                          inProj: UnsafePointer<Float>, inBias: UnsafePointer<Float>,
                          outProj: UnsafePointer<Float>, outBias: UnsafePointer<Float>) -> Activation {
        let c = q.c, dh = c / heads
        let lq = q.plane, lk = kv.plane
        let nq = q.columns, nk = kv.columns
        let qp = linear(q, weight: inProj, bias: inBias, outChannels: c)
        let kvp = linear(kv, weight: inProj + c * c, bias: inBias + c, outChannels: 2 * c)
        let ctx = q.new(c: c, f: q.f, t: q.t)
        let scale = 1 / Float(dh).squareRoot()
        q.new(c: 1, b: 1, f: lq, t: lk).withData { scores in
            for item in 0..<q.b {
                for h in 0..<heads {
                    let qh = qp.data + h * dh * nq + item * lq
                    let kh = kvp.data + h * dh * nk + item * lk
                    let vh = kvp.data + (c + h * dh) * nk + item * lk
                    // scores[Lq, Lk] = (Qh^T Kh) / sqrt(dh)
                    sgemm(transA: true, m: lq, n: lk, k: dh, alpha: scale, a: qh, lda: nq,
                          b: kh, ldb: nk, beta: 0, c: scores, ldc: lk)
                    softmaxRows(scores, rows: lq, n: lk)
                    // ctx_h[dh, Lq] = Vh[dh, Lk] scores^T
                    sgemm(transB: true, m: dh, n: lq, k: lk, a: vh, lda: nk, b: scores, ldb: lk,
                          beta: 0, c: ctx.data + h * dh * nq + item * lq, ldc: nq)
                }
            }
        }
        return linear(ctx, weight: outProj, bias: outBias, outChannels: c)
    }
}

extension Activation {
    /// Runs `body` on this (scratch) tensor's data; the tensor dies after.
    func withData<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try body(data)
    }
}
