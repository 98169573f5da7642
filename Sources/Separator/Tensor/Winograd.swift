// 3x3 convolutions (stride 1, padding 1) by Winograd's minimal filtering F(2x2, 3x3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
//
// Why: the decoder's rewrite convolutions (3x3 over F and T, C -> 2C) are a third of HTDemucs'
// FLOPs (6.7 GFLOP per 10-s channel each, 26.7 of 79 for the default model). Computed directly
// every output costs 9 multiplies per (input, output channel) pair; F(2x2, 3x3) computes each
// 2x2 block of outputs from a 4x4 block of inputs with 16, 2.25 times fewer. The products
// become 16 independent SGEMMs, one per point `xi` of the 4x4 transform domain:
//
//     M[xi] (Cout x tiles) = U[xi] (Cout x Cin) * V[xi] (Cin x tiles)
//
// with U = G g G^T the transformed weights (once, at load), V = B^T d B the transformed input
// tiles and the outputs A^T M A. The transforms only add and halve (entries 0, +-1, +-1/2):
// the result differs from the direct convolution by rounding alone (relative 1e-7 here,
// docs/separator.md). No BLAS or DNN library on this machine offers Winograd convolutions
// (OpenBLAS has none; oneDNN is not packaged for Debian 12), hence this file.
//
// Work is split into blocks of whole tile rows of one item; each worker transforms its
// block's input, runs the 16 SGEMMs on it and transforms the products back straight into the
// output (bias, GLU), so the transformed tensors (16x the block) stay in its cache.
import COpenBLAS


/// A 3x3 convolution's weights in the Winograd domain: `U[xi][Cout][Cin]`, `xi = 4 p + q`.
struct WinogradWeights {
    /// Transform-domain points per axis (alpha = m + r - 1 = 4).
    static let alpha = 4
    /// Output positions per tile and axis (m = 2).
    static let tile = 2
    /// `G` (alpha x 3): `U = G g G^T`.
    static let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    // The input transform B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    // and the output transform A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] are written out in
    // `Kernels.winogradConv` and `Kernels.outputTransform`.

    let cout: Int
    let cin: Int
    /// `alpha^2 * cout * cin` floats.
    let u: Parameter

    /// Transforms a PyTorch weight `[Cout, Cin, 3, 3]`.
    init(weight: UnsafePointer<Float>, cout: Int, cin: Int) {
        self.cout = cout
        self.cin = cin
        let a = Self.alpha, g = Self.g
        var u = [Float](repeating: 0, count: a * a * cout * cin)
        for co in 0..<cout {
            for ci in 0..<cin {
                let w = weight + (co * cin + ci) * 9
                // G g (alpha x 3), then (G g) G^T (alpha x alpha); in Double, rounded once.
                var gg = [Double](repeating: 0, count: a * 3)
                for p in 0..<a {
                    for kj in 0..<3 {
                        var s = 0.0
                        for ki in 0..<3 { s += g[p][ki] * Double(w[ki * 3 + kj]) }
                        gg[p * 3 + kj] = s
                    }
                }
                for p in 0..<a {
                    for q in 0..<a {
                        var s = 0.0
                        for kj in 0..<3 { s += gg[p * 3 + kj] * g[q][kj] }
                        u[((p * a + q) * cout + co) * cin + ci] = Float(s)
                    }
                }
            }
        }
        self.u = Parameter(shape: [a * a, cout, cin], values: u)
    }
}

extension Kernels {
    /// A 3x3 convolution with stride 1 and padding 1 on both axes of `x [Cin, B, H, W]`, by
    /// F(2x2, 3x3), then `epilogue`: `[Cout, B, H, W]` (`Cout / 2` channels for `.glu`).
    static func winogradConv(_ x: Activation, _ w: WinogradWeights, bias: UnsafePointer<Float>?,
                             epilogue: ConvEpilogue = .none) -> Activation {
        precondition(x.c == w.cin, "winograd input channels")
        let a = WinogradWeights.alpha, m = WinogradWeights.tile, points = a * a
        let cin = w.cin, cout = w.cout
        let h = x.f, wd = x.t
        let th = (h + m - 1) / m, tw = (wd + m - 1) / m
        let outChannels = epilogue == .glu ? cout / 2 : cout
        let out = x.new(c: outChannels, f: h, t: wd)

        // Blocks of whole tile rows: at most 512 tiles and 24 MB of transformed block (V and M,
        // points * (Cin + Cout) floats per tile), and a multiple of the workers. Measured: the
        // block size hardly matters where the weights are small (the first decoder levels),
        // and where they are large (the innermost: 19 MB in the Winograd domain) every block
        // streams them again, so there the largest block is fastest (one item: 2 x 158 tiles).
        let perTile = points * (cin + cout)
        let target = max(1, min(512, 6_291_456 / perTile))
        var rowsPerBlock = max(1, min(th, target / tw))
        var blocksPerItem = (th + rowsPerBlock - 1) / rowsPerBlock
        let blocks0 = x.b * blocksPerItem
        if blocks0 % Parallel.threads != 0 && blocks0 < 8 * Parallel.threads {
            let wanted = (blocks0 + Parallel.threads - 1) / Parallel.threads * Parallel.threads
            let perItem = max(1, (wanted + x.b - 1) / x.b)
            rowsPerBlock = max(1, (th + perItem - 1) / perItem)
            blocksPerItem = (th + rowsPerBlock - 1) / rowsPerBlock
        }
        let blocks = x.b * blocksPerItem
        let maxTiles = rowsPerBlock * tw
        let padded = tw * m + 2  // one padding column left, one or two right
        // Per worker: V, M, the row transform e[0..<4] and a row of zeros, two sets of outputs.
        let vFloats = points * cin * maxTiles, mFloats = points * cout * maxTiles
        let rowFloats = (a + 1) * padded
        let outFloats = 2 * 4 * maxTiles
        let perWorker = vFloats + mFloats + rowFloats + outFloats
        let workers = min(Parallel.threads, blocks)
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)

        Parallel.forTiles(blocks) { block, worker in
            let v = scratch.data + worker * perWorker
            let mm = v + vFloats
            let rows = mm + mFloats
            let o = rows + rowFloats
            let og = o + 4 * maxTiles
            let item = block / blocksPerItem
            let ti0 = (block % blocksPerItem) * rowsPerBlock
            let blockRows = min(rowsPerBlock, th - ti0)
            let n = blockRows * tw

            // V[xi][ci][r * tw + tj] = (B^T d B)[p][q] for the tile at (ti0 + r, tj), d its
            // 4x4 inputs: rows (ti0 + r) * 2 - 1 ..< +4, columns tj * 2 - 1 ..< +4. First B^T d
            // along F on whole rows (e[p], with the left padding column at index 0), then
            // along T per tile: every loop runs over contiguous or stride-2 memory.
            let e0 = rows, e1 = e0 + padded, e2 = e1 + padded, e3 = e2 + padded
            for p in 0..<a {
                let ep = e0 + p * padded
                ep[0] = 0
                (ep + 1 + wd).update(repeating: 0, count: padded - 1 - wd)
            }
            let zeros = e3 + padded
            zeros.update(repeating: 0, count: wd)
            let stride = cin * maxTiles
            for ci in 0..<cin {
                let plane = x.at(ci, item)
                for r in 0..<blockRows {
                    let top = (ti0 + r) * 2 - 1
                    func input(_ i: Int) -> UnsafePointer<Float> {
                        let hh = top + i
                        return hh >= 0 && hh < h ? UnsafePointer(plane + hh * wd) : UnsafePointer(zeros)
                    }
                    let d0 = input(0), d1 = input(1), d2 = input(2), d3 = input(3)
                    for j in 0..<wd {
                        e0[j + 1] = d0[j] - d2[j]
                        e1[j + 1] = d1[j] + d2[j]
                        e2[j + 1] = d2[j] - d1[j]
                        e3[j + 1] = d1[j] - d3[j]
                    }
                    for p in 0..<a {
                        let ep = e0 + p * padded
                        let o0 = v + (4 * p * cin + ci) * maxTiles + r * tw
                        columnTransform(ep, tiles: tw, into: o0, o0 + stride, o0 + 2 * stride, o0 + 3 * stride)
                    }
                }
            }

            // The 16 products.
            let u = w.u.data
            for xi in 0..<points {
                sgemm(m: cout, n: n, k: cin, a: u + xi * cout * cin, lda: cin,
                      b: v + xi * cin * maxTiles, ldb: maxTiles, beta: 0, c: mm + xi * cout * maxTiles, ldc: maxTiles)
            }

            // Y = A^T M A of output channel `co` for every tile of the block, into
            // dst[k][t] (k = 2 i + j, the output at row 2 ti + i, column 2 tj + j).
            let plane = cout * maxTiles
            func outputTiles(_ co: Int, into dst: UnsafeMutablePointer<Float>) {
                Kernels.outputTransform(mm + co * maxTiles, plane: plane, tiles: n,
                                        into: dst, dst + maxTiles, dst + 2 * maxTiles, dst + 3 * maxTiles)
            }

            // Writes y[k][t] (after `outputTiles` and the epilogue) to channel `ch`, clipped at
            // an odd last row or column.
            func write(_ ch: Int, _ y: UnsafeMutablePointer<Float>) {
                let outPlane = out.at(ch, item)
                let y00 = y, y01 = y + maxTiles, y10 = y01 + maxTiles, y11 = y10 + maxTiles
                let pairs = wd / 2
                for r in 0..<blockRows {
                    let hh = (ti0 + r) * 2, t0 = r * tw
                    let row0 = outPlane + hh * wd
                    interleave(y00 + t0, y01 + t0, pairs, into: row0)
                    if pairs < tw { row0[2 * pairs] = y00[t0 + pairs] }
                    if hh + 1 < h {
                        let row1 = row0 + wd
                        interleave(y10 + t0, y11 + t0, pairs, into: row1)
                        if pairs < tw { row1[2 * pairs] = y10[t0 + pairs] }
                    }
                }
            }

            // The epilogue on rows k of y: y[k * maxTiles ..< k * maxTiles + n].
            func epilogueRows(_ body: (Int) -> Void) {
                for k in 0..<4 { for t in (k * maxTiles)..<(k * maxTiles + n) { body(t) } }
            }
            switch epilogue {
            case .glu:
                let half = cout / 2
                for ch in 0..<half {
                    outputTiles(ch, into: o)
                    outputTiles(ch + half, into: og)
                    let ba = bias?[ch] ?? 0, bg = bias?[ch + half] ?? 0
                    epilogueRows { k in o[k] = (o[k] + ba) * fastSigmoid(og[k] + bg) }
                    write(ch, o)
                }
            case .gelu:
                for co in 0..<cout {
                    outputTiles(co, into: o)
                    let b = bias?[co] ?? 0
                    epilogueRows { k in o[k] = fastGelu(o[k] + b) }
                    write(co, o)
                }
            case .none:
                for co in 0..<cout {
                    outputTiles(co, into: o)
                    let b = bias?[co] ?? 0
                    epilogueRows { k in o[k] += b }
                    write(co, o)
                }
            }
        }
        return out
    }

    /// The column half of the input transform for one row of tiles: with `c = e + 2 tj`,
    /// `o0 = c0 - c2`, `o1 = c1 + c2`, `o2 = c2 - c1`, `o3 = c1 - c3`. Sixteen tiles at a time
    /// by even/odd splits of 32 contiguous floats (the compiler does not vectorize the
    /// stride-2 loads of the plain loop). `e` holds `2 * tiles + 2` floats.
    @inline(__always)
    private static func columnTransform(_ e: UnsafeMutablePointer<Float>, tiles: Int,
                                        into o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
                                        _ o2: UnsafeMutablePointer<Float>, _ o3: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawPointer(e)
        var tj = 0
        while tj + 16 <= tiles {
            let a = raw.loadUnaligned(fromByteOffset: 8 * tj, as: SIMD32<Float>.self)
            let b = raw.loadUnaligned(fromByteOffset: 8 * tj + 8, as: SIMD32<Float>.self)
            let c0 = a.evenHalf, c1 = a.oddHalf, c2 = b.evenHalf, c3 = b.oddHalf
            UnsafeMutableRawPointer(o0 + tj).storeBytes(of: c0 - c2, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(o1 + tj).storeBytes(of: c1 + c2, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(o2 + tj).storeBytes(of: c2 - c1, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(o3 + tj).storeBytes(of: c1 - c3, as: SIMD16<Float>.self)
            tj += 16
        }
        while tj < tiles {
            let c = e + 2 * tj
            o0[tj] = c[0] - c[2]
            o1[tj] = c[1] + c[2]
            o2[tj] = c[2] - c[1]
            o3[tj] = c[1] - c[3]
            tj += 1
        }
    }

    /// `row[2 k] = even[k]`, `row[2 k + 1] = odd[k]` for `k < count`.
    @inline(__always)
    private static func interleave(_ even: UnsafePointer<Float>, _ odd: UnsafePointer<Float>, _ count: Int,
                                   into row: UnsafeMutablePointer<Float>) {
        var k = 0
        while k + 16 <= count {
            var pair = SIMD32<Float>()
            pair.evenHalf = UnsafeRawPointer(even + k).loadUnaligned(as: SIMD16<Float>.self)
            pair.oddHalf = UnsafeRawPointer(odd + k).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(row + 2 * k).storeBytes(of: pair, as: SIMD32<Float>.self)
            k += 16
        }
        while k < count {
            row[2 * k] = even[k]
            row[2 * k + 1] = odd[k]
            k += 1
        }
    }

    /// The output transform Y = A^T M A of `tiles` tiles: `m[xi * plane + t]` is point `xi`
    /// of tile `t`; `y00[t] .. y11[t]` its 2x2 outputs. Written with explicit SIMD: the plain
    /// loop stays scalar (the compiler cannot rule out that the outputs alias `m`).
    @inline(__always)
    static func outputTransform(_ m: UnsafeMutablePointer<Float>, plane: Int, tiles: Int,
                                into y00: UnsafeMutablePointer<Float>, _ y01: UnsafeMutablePointer<Float>,
                                _ y10: UnsafeMutablePointer<Float>, _ y11: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let raw = UnsafeRawPointer(m)
        let rowBytes = 4 * plane
        @inline(__always) func at(_ xi: Int, _ t: Int) -> V {
            raw.loadUnaligned(fromByteOffset: xi &* rowBytes &+ 4 &* t, as: V.self)
        }
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
        }
        var t = 0
        while t &+ 16 <= tiles {
            // A^T M: along F (rows p = 0...3 of the 4x4 points).
            let m10 = at(4, t), m11 = at(5, t), m12 = at(6, t), m13 = at(7, t)
            let m20 = at(8, t), m21 = at(9, t), m22 = at(10, t), m23 = at(11, t)
            let s00 = at(0, t) + m10 + m20, s01 = at(1, t) + m11 + m21
            let s02 = at(2, t) + m12 + m22, s03 = at(3, t) + m13 + m23
            let s10 = m10 - m20 - at(12, t), s11 = m11 - m21 - at(13, t)
            let s12 = m12 - m22 - at(14, t), s13 = m13 - m23 - at(15, t)
            // (A^T M) A: along T.
            store(s00 + s01 + s02, y00 + t)
            store(s01 - s02 - s03, y01 + t)
            store(s10 + s11 + s12, y10 + t)
            store(s11 - s12 - s13, y11 + t)
            t &+= 16
        }
        while t < tiles {
            let p = m + t
            let m10 = p[4 * plane], m11 = p[5 * plane], m12 = p[6 * plane], m13 = p[7 * plane]
            let m20 = p[8 * plane], m21 = p[9 * plane], m22 = p[10 * plane], m23 = p[11 * plane]
            let s00 = p[0] + m10 + m20, s01 = p[plane] + m11 + m21
            let s02 = p[2 * plane] + m12 + m22, s03 = p[3 * plane] + m13 + m23
            let s10 = m10 - m20 - p[12 * plane], s11 = m11 - m21 - p[13 * plane]
            let s12 = m12 - m22 - p[14 * plane], s13 = m13 - m23 - p[15 * plane]
            y00[t] = s00 + s01 + s02
            y01[t] = s01 - s02 - s03
            y10[t] = s10 + s11 + s12
            y11[t] = s11 - s12 - s13
            t += 1
        }
    }
}
