// Numeric kernels of HTDemucs on channel-major tensors (see Activation.swift) besides the
// convolutions (Convolution.swift) and attention (Attention.swift): group/layer norms, exact
// GELU, GLU and the LayerScale'd residual adds.
//
// Hand-written because no Swift library offers these on OpenBLAS; the arithmetic follows
// PyTorch's CPU kernels where their rounding matters (see docs/separator.md).
#if canImport(Glibc)
import Glibc
#endif

enum Kernels {
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

    /// LayerNorm over the channel axis of tokens `x [C, B, F, T]` (each column a token), in
    /// place or into `output` (same shape; the copy a pre-norm layer needs, made by the pass).
    /// Blocks of 64 tokens (C x 64 floats, 96 KB at the default model's 384 channels) are
    /// handed to the workers: the three passes over a block stay in the core's cache, and two
    /// workers never write the same cache line (a split in two halves measured 1.5-3x slower
    /// per token than one thread).
    static func layerNorm(_ x: Activation, into output: Activation? = nil, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>, eps: Float = 1e-5) {
        let n = x.columns, c = x.c
        precondition(output.map { $0.c == c && $0.columns == n } ?? true, "layerNorm output shape")
        let destination = output?.data ?? x.data
        let block = 64, blocks = (n + block - 1) / block
        x.new(c: 2, b: 1, f: 1, t: block * Parallel.workers).withData { stats in
            Parallel.forTiles(blocks, maxWorkers: c * n >= 65_536 ? .max : 1) { index, worker in
                let lo = index * block, count = min(block, n - lo)
                let mean = stats + 2 * block * worker, rstd = mean + block
                mean.update(repeating: 0, count: count)
                for ch in 0..<c {
                    let p = x.data + ch * n + lo
                    for j in 0..<count { mean[j] += p[j] }
                }
                let inv = 1 / Float(c)
                for j in 0..<count { mean[j] *= inv }
                rstd.update(repeating: 0, count: count)
                for ch in 0..<c {
                    let p = x.data + ch * n + lo
                    for j in 0..<count { let d = p[j] - mean[j]; rstd[j] += d * d }
                }
                for j in 0..<count { rstd[j] = 1 / (rstd[j] * inv + eps).squareRoot() }
                for ch in 0..<c {
                    let p = x.data + ch * n + lo, q = destination + ch * n + lo
                    let w = weight[ch], b = bias[ch]
                    for j in 0..<count { q[j] = (p[j] - mean[j]) * rstd[j] * w + b }
                }
            }
        }
    }

    /// `x += y` elementwise (same shape).
    static func add(_ x: Activation, _ y: Activation) {
        precondition(x.count == y.count, "add: shapes differ")
        let a = x.data, b = y.data
        Parallel.forRanges(x.count) { range in
            for i in range { a[i] += b[i] }
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
}

extension Activation {
    /// Runs `body` on this (scratch) tensor's data; the tensor dies after.
    func withData<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try body(data)
    }
}
