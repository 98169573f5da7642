// The time branch's strided convolution (kernel 2s, stride s: HEncLayer over time) without
// im2col. Split the zero-padded input into its s phases, P[r][m] = x'[s m + r]; then output n
// is `W_lo P[:, n] + W_hi P[:, n + 1]` with W_lo the first s taps and W_hi the last s: two
// SGEMMs with K = s Cin on the phase matrix, the second shifted by one column. im2col wrote
// 2s Cin floats per output (8x the input at kernel 8, stride 4) with stride-s gathers; the
// phase matrix is as large as the input and is written once, in SIMD for s = 4.

/// The weights of a kernel-2s, stride-s convolution over time by phase: `[2][Cout][s Cin]`,
/// column `r Cin + ci` of half `h` being tap `h s + r` of input channel `ci`.
struct TimePhaseWeights {
    let stride: Int
    let cout: Int
    let cin: Int
    let u: Parameter

    /// From PyTorch's `[Cout, Cin, 2s]`.
    init(weight: UnsafePointer<Float>, cout: Int, cin: Int, stride s: Int) {
        self.stride = s
        self.cout = cout
        self.cin = cin
        var u = [Float](repeating: 0, count: 2 * cout * s * cin)
        for half in 0..<2 {
            for co in 0..<cout {
                for ci in 0..<cin {
                    for r in 0..<s {
                        u[(half * cout + co) * s * cin + r * cin + ci] = weight[(co * cin + ci) * 2 * s + half * s + r]
                    }
                }
            }
        }
        self.u = Parameter(shape: [2, cout, s * cin], values: u)
    }
}

extension Kernels {
    /// The convolution of `x [Cin, B, 1, L]` with kernel `2s` and stride `s` over time, zero
    /// padding `pad` on the left and `pad + padRight` on the right, then `epilogue` (`.none`
    /// or `.gelu`): `[Cout, B, 1, Lo]`, `Lo = (L + 2 pad + padRight - 2s) / s + 1`.
    static func convOverTimeByPhase(_ x: Activation, _ w: TimePhaseWeights, bias: UnsafePointer<Float>?, pad: Int,
                                    padRight: Int, epilogue: ConvEpilogue) -> Activation {
        precondition(x.c == w.cin && x.f == 1 && epilogue != .glu, "time convolution by phase input")
        let s = w.stride, cin = w.cin, cout = w.cout, k = s * cin
        let length = x.t, items = x.b
        let lo = (length + 2 * pad + padRight - 2 * s) / s + 1
        let m = lo + 1  // phase columns: output n reads columns n and n + 1
        let out = x.new(c: cout, f: 1, t: lo)
        let phasesMatrix = x.new(c: k, f: 1, t: m)  // [r Cin + ci][B][m]
        let ldp = items * m, ldo = items * lo

        // P[r Cin + ci][item][j] = x'[s j + r] = x[s j + r - pad] (zero outside the input).
        Parallel.forRanges(cin * items, cost: length) { range in
            for task in range {
                let ci = task / items, item = task % items
                let src = UnsafePointer(x.at(ci, item))
                let rows = phasesMatrix.data + ci * ldp + item * m  // row r is `rows + r * cin * ldp`
                @inline(__always) func value(_ j: Int, _ r: Int) -> Float {
                    let index = s * j + r - pad
                    return index >= 0 && index < length ? src[index] : 0
                }
                // Columns whose s inputs, and the 64 floats a 16-column SIMD step loads, lie
                // inside the input.
                var j = 0
                if s == 4 {
                    let first = (pad + s - 1) / s
                    while j < first && j < m {
                        for r in 0..<s { rows[r * cin * ldp + j] = value(j, r) }
                        j += 1
                    }
                    while j + 16 <= m && s * j - pad + 64 <= length {
                        let split = phases(src + s * j - pad)
                        let stride = cin * ldp
                        UnsafeMutableRawPointer(rows + j).storeBytes(of: split.0, as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(rows + stride + j).storeBytes(of: split.1, as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(rows + 2 * stride + j).storeBytes(of: split.2, as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(rows + 3 * stride + j).storeBytes(of: split.3, as: SIMD16<Float>.self)
                        j += 16
                    }
                }
                while j < m {
                    for r in 0..<s { rows[r * cin * ldp + j] = value(j, r) }
                    j += 1
                }
            }
        }

        // Tiles of output columns of one item (at most 1024, equal, a multiple of the workers
        // when few): two SGEMMs onto the bias, then the epilogue while the tile is in cache.
        let (tile, tilesPerItem) = Parallel.equalBlocks(units: lo, items: items, maxPerBlock: 1024)
        let uLow = UnsafePointer(w.u.data), uHigh = uLow + cout * k
        Parallel.forTiles(items * tilesPerItem) { task, _ in
            let item = task / tilesPerItem, n0 = (task % tilesPerItem) * tile
            let nc = min(tile, lo - n0)
            let c = out.data + item * lo + n0
            for co in 0..<cout { (c + co * ldo).update(repeating: bias?[co] ?? 0, count: nc) }
            let p = phasesMatrix.data + item * m + n0
            sgemm(m: cout, n: nc, k: k, a: uLow, lda: k, b: p, ldb: ldp, beta: 1, c: c, ldc: ldo)
            sgemm(m: cout, n: nc, k: k, a: uHigh, lda: k, b: p + 1, ldb: ldp, beta: 1, c: c, ldc: ldo)
            if epilogue == .gelu {
                for co in 0..<cout {
                    let row = c + co * ldo
                    for j in 0..<nc { row[j] = fastGelu(row[j]) }
                }
            }
        }
        return out
    }
}
