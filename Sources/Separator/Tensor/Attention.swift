// Multi-head attention, one block of queries at a time: each worker computes the scores of
// `queryBlock` queries against every key, their softmax and their share of the context while
// the block of scores (128 x 1256 floats at the default model's bottom, 640 KB) stays in its
// core's L2. The whole `[Lq, Lk]` score matrix of a head (6 MB) never goes through memory.

/// Queries per block of scores.
private let queryBlock = 256

extension Kernels {
    /// Multi-head attention of `torch.nn.MultiheadAttention` (batch_first, no mask, no
    /// dropout): queries from `q [C, B, Lq]`, keys and values from `kv [C, B, Lk]` (tokens
    /// flattened over F x T). `inProj [3C, C]`, `inBias [3C]`, `outProj [C, C]`, `outBias [C]`.
    static func attention(query q: Activation, keyValue kv: Activation, heads: Int,
                          inProj: UnsafePointer<Float>, inBias: UnsafePointer<Float>,
                          outProj: UnsafePointer<Float>, outBias: UnsafePointer<Float>) -> Activation {
        let c = q.c, dh = c / heads
        let lq = q.plane, lk = kv.plane
        let nq = q.columns, nk = kv.columns
        // Projections `[C, B, Lq]` of the queries and `[2C, B, Lk]` of keys and values; for
        // self-attention one SGEMM of all 3C rows (the tokens are packed once, not twice).
        let qp: UnsafeMutablePointer<Float>, kvp: UnsafeMutablePointer<Float>
        let projections: [Activation]
        if q === kv {
            let qkv = linear(q, weight: inProj, bias: inBias, outChannels: 3 * c)
            (qp, kvp, projections) = (qkv.data, qkv.data + c * nq, [qkv])
        } else {
            let qOnly = linear(q, weight: inProj, bias: inBias, outChannels: c)
            let kvOnly = linear(kv, weight: inProj + c * c, bias: inBias + c, outChannels: 2 * c)
            (qp, kvp, projections) = (qOnly.data, kvOnly.data, [qOnly, kvOnly])
        }
        let ctx = q.new(c: c, f: q.f, t: q.t)
        // Scores in base 2: softmax(s) = 2^(s log2 e - max) / sum, with log2 e folded into the
        // SGEMM's alpha (exponentiate2AndSum needs no range reduction by ln 2 then).
        let scale = Float(1.4426950408889634 / Double(dh).squareRoot())
        let blocks = (lq + queryBlock - 1) / queryBlock
        let workers = min(Parallel.workers, q.b * heads * blocks)
        let perWorker = queryBlock * (lk + 1 + dh)  // scores, each row's 1 / sum, the context^T
        let scratch = q.new(c: 1, b: 1, f: 1, t: perWorker * workers)
        Parallel.forTiles(q.b * heads * blocks) { task, worker in
            let item = task / (heads * blocks), h = (task / blocks) % heads
            let q0 = (task % blocks) * queryBlock, rows = min(queryBlock, lq - q0)
            let scores = scratch.data + worker * perWorker, inverseSums = scores + queryBlock * lk
            let contextT = inverseSums + queryBlock
            let qh = qp + h * dh * nq + item * lq + q0
            let kh = kvp + h * dh * nk + item * lk
            let vh = kvp + (c + h * dh) * nk + item * lk
            // scores[rows, Lk] = (Qh^T Kh) log2(e) / sqrt(dh)
            sgemm(transA: true, m: rows, n: lk, k: dh, alpha: scale, a: qh, lda: nq,
                  b: kh, ldb: nk, beta: 0, c: scores, ldc: lk)
            exponentiateRows(scores, rows: rows, n: lk, inverseSums: inverseSums)
            // ctxT[rows, dh] = exp(scores)[rows, Lk] Vh^T, then written transposed into the
            // channel-major context with each query's row divided by its sum: the softmax's
            // division on dh values per query instead of Lk.
            sgemm(transB: true, m: rows, n: dh, k: lk, a: scores, lda: lk, b: vh, ldb: nk,
                  beta: 0, c: contextT, ldc: dh)
            let out = ctx.data + h * dh * nq + item * lq + q0
            for j in 0..<rows {
                let inverse = inverseSums[j], src = contextT + j * dh
                for d in 0..<dh { out[d * nq + j] = src[d] * inverse }
            }
        }
        withExtendedLifetime(projections) {}  // their workspace memory is in use until here
        return linear(ctx, weight: outProj, bias: outBias, outChannels: c)
    }

    /// `2^(x - max)` of each of `rows` rows of `n` floats (scores in base 2), in place, and
    /// `1 / sum` of each row into `inverseSums` (the softmax without its division), on the
    /// calling thread.
    static func exponentiateRows(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                 inverseSums: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * n
            let m = laneMax(row, n)
            inverseSums[r] = 1 / exponentiate2AndSum(row, n, minus: m)
        }
    }
}
