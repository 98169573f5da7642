// 3x3 convolutions (stride 1, padding 1) by Winograd's minimal filtering F(m x m, 3x3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), m = 2 or 4.
//
// Why: the decoder's rewrite convolutions (3x3 over F and T, C -> 2C) are a third of HTDemucs'
// FLOPs (6.7 GFLOP per 10-s channel each, 26.7 of 79 for the default model). Computed directly
// every output costs 9 multiplies per (input, output channel) pair. F(m x m, 3x3) computes an
// m x m block of outputs from an a x a block of inputs (a = m + 2) with a^2 multiplies: 4 per
// output for F(2x2) (2.25x fewer), 2.25 for F(4x4) (4x fewer). The products become a^2
// independent SGEMMs, one per point `xi` of the a x a transform domain:
//
//     M[xi] (Cout x tiles) = U[xi] (Cout x Cin) * V[xi] (Cin x tiles)
//
// with U = G g G^T the transformed weights (once, at load), V = B^T d B the transformed input
// tiles and the outputs A^T M A. F(2x2)'s transforms only add and halve (exact but for
// rounding); F(4x4)'s multiply by up to 8 and 1/24, which costs about a decimal digit
// (relative 1e-6 instead of 1e-7, docs/separator.md). No BLAS or DNN library on this machine
// offers Winograd convolutions (OpenBLAS has none; oneDNN is not packaged for Debian 12),
// hence this file.
//
// Work is split into blocks of whole tile rows of one item; each worker transforms its
// block's input, runs the a^2 SGEMMs on it and transforms the products back straight into
// the output (bias, GLU). The transforms are written with explicit SIMD: the plain loops stay
// scalar (stride-m loads, and outputs the compiler cannot prove apart from the inputs).
import COpenBLAS

/// A 3x3 convolution's weights in the Winograd domain of F(m x m, 3x3):
/// `U[xi][Cout][Cin]`, `xi = a p + q`.
struct WinogradWeights {
    /// Output positions per tile and axis, m (2 or 4).
    let tile: Int
    /// 2 for a 3x3 convolution over (F, T), 1 for a kernel-3 convolution over T.
    let dims: Int
    let cout: Int
    let cin: Int
    /// `alpha^2 * cout * cin` floats.
    let u: Parameter

    /// Transform-domain points per axis, a = m + 2.
    var alpha: Int { tile + 2 }

    /// `G` (a x 3) of F(m, 3) for m = 2 and 4: `U = G g G^T`. The matching B^T and A^T are
    /// written out in `Kernels.inputTransform*` and `Kernels.outputTransform*`.
    static func g(tile: Int) -> [[Double]] {
        if tile == 2 { return [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]] }
        let sixth: Double = 1.0 / 6, twelfth: Double = 1.0 / 12, twentyFourth: Double = 1.0 / 24
        return [[0.25, 0, 0], [-sixth, -sixth, -sixth], [-sixth, sixth, -sixth],
                [twentyFourth, twelfth, sixth], [twentyFourth, -twelfth, sixth], [0, 0, 1]]
    }

    /// Transforms a PyTorch weight `[Cout, Cin, 3, 3]` (`dims` 2) for F(tile x tile, 3x3), or
    /// `[Cout, Cin, 3]` (`dims` 1) for F(tile, 3): `U[q][Cout][Cin] = (G g)[q]`.
    init(weight: UnsafePointer<Float>, cout: Int, cin: Int, tile: Int, dims: Int = 2) {
        precondition(tile == 2 || tile == 4, "Winograd tiles are 2x2 or 4x4")
        self.tile = tile
        self.dims = dims
        self.cout = cout
        self.cin = cin
        let a = tile + 2, g = Self.g(tile: tile)
        if dims == 1 {
            var u = [Float](repeating: 0, count: a * cout * cin)
            for co in 0..<cout {
                for ci in 0..<cin {
                    let w = weight + (co * cin + ci) * 3
                    for q in 0..<a {
                        var s = 0.0
                        for k in 0..<3 { s += g[q][k] * Double(w[k]) }
                        u[(q * cout + co) * cin + ci] = Float(s)
                    }
                }
            }
            self.u = Parameter(shape: [a, cout, cin], values: u)
            return
        }
        var u = [Float](repeating: 0, count: a * a * cout * cin)
        var gg = [Double](repeating: 0, count: a * 3)
        for co in 0..<cout {
            for ci in 0..<cin {
                let w = weight + (co * cin + ci) * 9
                // G g (a x 3), then (G g) G^T (a x a); in Double, rounded once.
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

/// Sixteen lanes: the transforms' vector width.
private typealias Lanes = SIMD16<Float>

extension Kernels {
    /// A 3x3 convolution with stride 1 and padding 1 on both axes of `x [Cin, B, H, W]`, by
    /// F(m x m, 3x3), then `epilogue`: `[Cout, B, H, W]` (`Cout / 2` channels for `.glu`).
    static func winogradConv(_ x: Activation, _ w: WinogradWeights, bias: UnsafePointer<Float>?,
                             epilogue: ConvEpilogue = .none) -> Activation {
        precondition(x.c == w.cin && w.dims == 2, "winograd input channels")
        let m = w.tile, a = w.alpha, points = a * a, outputs = m * m
        let cin = w.cin, cout = w.cout
        let h = x.f, wd = x.t
        let th = (h + m - 1) / m, tw = (wd + m - 1) / m
        let outChannels = epilogue == .glu ? cout / 2 : cout
        let out = x.new(c: outChannels, f: h, t: wd)

        // Blocks of whole tile rows: at most 512 tiles and 24 MB of transformed block (V and M,
        // points * (Cin + Cout) floats per tile), equal, a multiple of the workers when few.
        // Measured: the block size hardly matters where the weights are small (the first
        // decoder levels), and where they are large (the innermost: 19 MB in F(2x2)'s domain)
        // every block streams them again, so there the largest block is fastest (one item:
        // 2 x 158 tiles on two workers, 1 x 316 on one).
        let perTile = points * (cin + cout)
        let target = max(1, min(512, 6_291_456 / perTile))
        let (rowsPerBlock, blocksPerItem) = Parallel.equalBlocks(units: th, items: x.b, maxPerBlock: target / tw)
        let blocks = x.b * blocksPerItem
        let maxTiles = rowsPerBlock * tw
        // Row stride of V, M and the outputs: room for a last 16-lane store past the tiles.
        let ld = (maxTiles + 31) / 16 * 16
        // The row transform e[p] of a tile row: one padding column left, the rest right, and
        // room for the column transform's 64-float loads.
        let padded = (tw * m + 2 + 15) / 16 * 16 + 64
        // Per worker: V, M, e[0..<a], two sets of outputs (GLU's value and gate), slack for
        // 16-lane loads past the end.
        let vFloats = points * cin * ld, mFloats = points * cout * ld
        let perWorker = vFloats + mFloats + a * padded + 2 * outputs * ld + 64
        let workers = min(Parallel.workers, blocks)
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)

        Parallel.forTiles(blocks) { block, worker in
            let v = scratch.data + worker * perWorker
            let mm = v + vFloats
            let e = mm + mFloats
            let o = e + a * padded
            let og = o + outputs * ld
            let item = block / blocksPerItem
            let ti0 = (block % blocksPerItem) * rowsPerBlock
            let blockRows = min(rowsPerBlock, th - ti0)
            let n = blockRows * tw

            // V[xi][ci][r * tw + tj] = (B^T d B)[p][q] for the tile at (ti0 + r, tj), d its
            // a x a inputs: rows (ti0 + r) m - 1 ..< + a, columns tj m - 1 ..< + a. First B^T d
            // along F on whole rows (e[p], the left padding column at index 0; the padding
            // on the right stays zero), then along T per tile.
            e.update(repeating: 0, count: a * padded)
            for ci in 0..<cin {
                let plane = UnsafePointer(x.at(ci, item))
                for r in 0..<blockRows {
                    let top = (ti0 + r) * m - 1
                    let rows = max(0, min(a, h - top) - max(0, -top))  // input rows inside the plane
                    let first = max(0, -top)  // index (in 0..<a) of the first of them
                    let src = plane + max(0, top) * wd
                    if m == 2 {
                        rowTransform4(src, wd: wd, first: first, rows: rows, into: e + 1, stride: padded)
                    } else {
                        rowTransform6(src, wd: wd, first: first, rows: rows, into: e + 1, stride: padded)
                    }
                    let dst = v + ci * ld + r * tw
                    if m == 2 {
                        columnTransform4(e, stride: padded, tiles: tw, into: dst, pointStride: cin * ld)
                    } else {
                        columnTransform6(e, stride: padded, tiles: tw, into: dst, pointStride: cin * ld)
                    }
                }
            }

            pointProducts(points, u: w.u.data, rows: cout, k: cin, v: v, into: mm, count: n, ld: ld)

            // Y = A^T M A of output channel `co` for every tile of the block, into
            // dst[k * ld + t] (k = m i + j: the output at row m ti + i, column m tj + j).
            func outputTiles(_ co: Int, into dst: UnsafeMutablePointer<Float>) {
                if m == 2 {
                    outputTransform4(mm + co * ld, pointStride: cout * ld, tiles: n, into: dst, stride: ld)
                } else {
                    outputTransform6(mm + co * ld, pointStride: cout * ld, tiles: n, into: dst, stride: ld)
                }
            }

            // Writes y (after `outputTiles` and the epilogue) to channel `ch`, clipped at the
            // last row and column.
            func write(_ ch: Int, _ y: UnsafeMutablePointer<Float>) {
                let outPlane = out.at(ch, item)
                let whole = wd / m  // tiles whose m columns are all inside
                for r in 0..<blockRows {
                    for i in 0..<m {
                        let hh = (ti0 + r) * m + i
                        if hh >= h { break }
                        let row = outPlane + hh * wd, t0 = r * tw
                        let yi = y + i * m * ld + t0
                        if m == 2 {
                            interleave2(yi, yi + ld, whole, into: row)
                        } else {
                            interleave4(yi, yi + ld, yi + 2 * ld, yi + 3 * ld, whole, into: row)
                        }
                        for ww in (whole * m)..<wd { row[ww] = yi[(ww % m) * ld + whole] }
                    }
                }
            }

            transformBack(epilogue, cout: cout, bias: bias, rows: outputs, ld: ld, count: n, value: o, gate: og,
                          outputTiles: outputTiles, write: write)
        }
        return out
    }

    /// A kernel-3 convolution over time with stride 1 and padding 1 of `x [Cin, B, 1, T]`, by
    /// F(m, 3) (m + 2 products per m outputs instead of 3 m), then `epilogue`. Blocks are runs
    /// of tiles along T; otherwise as `winogradConv`.
    static func winogradConv1D(_ x: Activation, _ w: WinogradWeights, bias: UnsafePointer<Float>?,
                               epilogue: ConvEpilogue = .none) -> Activation {
        precondition(x.c == w.cin && w.dims == 1 && x.f == 1, "winograd 1-D input")
        let m = w.tile, a = w.alpha
        let cin = w.cin, cout = w.cout
        let length = x.t
        let tiles = (length + m - 1) / m
        let outChannels = epilogue == .glu ? cout / 2 : cout
        let out = x.new(c: outChannels, f: 1, t: length)

        // Blocks: runs of at most 512 tiles and 24 MB of V and M, a multiple of the workers,
        // equal in size.
        let target = max(16, min(512, 6_291_456 / (a * (cin + cout))))
        let (perBlock, blocksPerItem) = Parallel.equalBlocks(units: tiles, items: x.b, maxPerBlock: target)
        let blocks = x.b * blocksPerItem
        let ld = (perBlock + 31) / 16 * 16
        let span = m * perBlock + 2  // input positions a block's tiles read
        let padded = (span + 15) / 16 * 16 + 64
        let vFloats = a * cin * ld, mFloats = a * cout * ld
        let perWorker = vFloats + mFloats + padded + 2 * m * ld + 64
        let workers = min(Parallel.workers, blocks)
        let scratch = x.new(c: 1, b: 1, f: 1, t: perWorker * workers)

        Parallel.forTiles(blocks) { block, worker in
            let v = scratch.data + worker * perWorker
            let mm = v + vFloats
            let e = mm + mFloats
            let o = e + padded
            let og = o + m * ld
            let item = block / blocksPerItem
            let tj0 = (block % blocksPerItem) * perBlock
            let n = min(perBlock, tiles - tj0)

            // V[q][ci][t]: the block's inputs m tj0 - 1 ..< + m n + 2 (zeros outside the
            // sequence), then B^T per tile.
            let first = m * tj0 - 1
            let inside = max(0, first)..<min(length, first + m * n + 2)
            for ci in 0..<cin {
                let src = x.at(ci, item)
                e.update(repeating: 0, count: padded)
                if !inside.isEmpty { (e + (inside.lowerBound - first)).update(from: src + inside.lowerBound, count: inside.count) }
                if m == 2 {
                    columnTransform4(e, stride: padded, rows: 1, tiles: n, into: v + ci * ld, pointStride: cin * ld)
                } else {
                    columnTransform6(e, stride: padded, rows: 1, tiles: n, into: v + ci * ld, pointStride: cin * ld)
                }
            }

            pointProducts(a, u: w.u.data, rows: cout, k: cin, v: v, into: mm, count: n, ld: ld)

            // Y = A^T M of channel `co`: dst[j * ld + t], output m (tj0 + t) + j.
            func outputTiles(_ co: Int, into dst: UnsafeMutablePointer<Float>) {
                let p = mm + co * ld, stride = cout * ld
                var t = 0
                while t < n {
                    @inline(__always) func at(_ q: Int) -> Lanes { load(p + (q * stride + t), 16) }
                    if m == 2 {
                        let y = at4(at(0), at(1), at(2), at(3))
                        store(y.0, dst + t)
                        store(y.1, dst + ld + t)
                    } else {
                        let y = at6(at(0), at(1), at(2), at(3), at(4), at(5))
                        store(y.0, dst + t)
                        store(y.1, dst + ld + t)
                        store(y.2, dst + 2 * ld + t)
                        store(y.3, dst + 3 * ld + t)
                    }
                    t += 16
                }
            }

            func write(_ ch: Int, _ y: UnsafeMutablePointer<Float>) {
                let row = out.at(ch, item) + m * tj0
                let whole = min(n, (length - m * tj0) / m)  // tiles whose m outputs are all inside
                if m == 2 {
                    interleave2(y, y + ld, whole, into: row)
                } else {
                    interleave4(y, y + ld, y + 2 * ld, y + 3 * ld, whole, into: row)
                }
                for pos in (m * whole)..<min(m * n, length - m * tj0) { row[pos] = y[(pos % m) * ld + whole] }
            }

            transformBack(epilogue, cout: cout, bias: bias, rows: m, ld: ld, count: n, value: o, gate: og,
                          outputTiles: outputTiles, write: write)
        }
        return out
    }

    /// The products of a transform-domain block: for every point xi,
    /// `M[xi] (rows x count) = U[xi] (rows x k) * V[xi] (k x count)`; V and M rows `ld` apart,
    /// U's points `uPlane` floats apart (by default `rows * k`: all of U's rows).
    static func pointProducts(_ points: Int, u: UnsafePointer<Float>, rows: Int, k: Int, uPlane: Int? = nil,
                              v: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, count: Int, ld: Int) {
        let plane = uPlane ?? rows * k
        for xi in 0..<points {
            sgemm(m: rows, n: count, k: k, a: u + xi * plane, lda: k,
                  b: v + xi * k * ld, ldb: ld, beta: 0, c: m + xi * rows * ld, ldc: ld)
        }
    }

    /// The output side of a Winograd block: per output channel (for `.glu`, per pair of value
    /// and gate channels), `outputTiles(channel, into:)` fills `rows` rows of `count` outputs
    /// (`ld` apart), then bias and the epilogue, then `write(channel, rows)` puts them in place.
    private static func transformBack(_ epilogue: ConvEpilogue, cout: Int, bias: UnsafePointer<Float>?, rows: Int,
                                      ld: Int, count: Int, value o: UnsafeMutablePointer<Float>,
                                      gate og: UnsafeMutablePointer<Float>,
                                      outputTiles: (Int, UnsafeMutablePointer<Float>) -> Void,
                                      write: (Int, UnsafeMutablePointer<Float>) -> Void) {
        // The epilogue on every output row k of y: y[k * ld ..< k * ld + count].
        func epilogueRows(_ body: (Int) -> Void) {
            for k in 0..<rows { for t in (k * ld)..<(k * ld + count) { body(t) } }
        }
        switch epilogue {
        case .glu:
            let half = cout / 2
            for ch in 0..<half {
                outputTiles(ch, o)
                outputTiles(ch + half, og)
                let ba = bias?[ch] ?? 0, bg = bias?[ch + half] ?? 0
                epilogueRows { k in o[k] = (o[k] + ba) * fastSigmoid(og[k] + bg) }
                write(ch, o)
            }
        case .gelu:
            for co in 0..<cout {
                outputTiles(co, o)
                let b = bias?[co] ?? 0
                epilogueRows { k in o[k] = fastGelu(o[k] + b) }
                write(co, o)
            }
        case .none:
            for co in 0..<cout {
                outputTiles(co, o)
                let b = bias?[co] ?? 0
                epilogueRows { k in o[k] += b }
                write(co, o)
            }
        }
    }

    // MARK: - Transforms

    /// Lanes `0..<count` of `p` (the rest zero).
    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>, _ count: Int) -> Lanes {
        if count >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
        var v = Lanes()
        for k in 0..<count { v[k] = p[k] }
        return v
    }

    @inline(__always)
    private static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// Row `i` (of the tile's a input rows) at column j..j+15, or zeros outside the plane:
    /// the plane's rows `first ..< first + rows` start at `src`.
    @inline(__always)
    private static func inputRow(_ src: UnsafePointer<Float>, _ i: Int, first: Int, rows: Int, wd: Int,
                                 _ j: Int, _ count: Int) -> Lanes {
        let k = i - first
        return k >= 0 && k < rows ? load(src + k * wd + j, count) : Lanes()
    }

    /// F(2, 3)'s B^T along F on whole rows: `e[p * stride + j]` for the tile row's four input
    /// rows (`first`, `rows`: which of them lie inside the plane). Stores may run 15 floats
    /// past `wd`; lanes past `wd` are zero.
    private static func rowTransform4(_ src: UnsafePointer<Float>, wd: Int, first: Int, rows: Int,
                                      into e: UnsafeMutablePointer<Float>, stride: Int) {
        var j = 0
        while j < wd {
            let c = min(16, wd - j)
            let d0 = inputRow(src, 0, first: first, rows: rows, wd: wd, j, c)
            let d1 = inputRow(src, 1, first: first, rows: rows, wd: wd, j, c)
            let d2 = inputRow(src, 2, first: first, rows: rows, wd: wd, j, c)
            let d3 = inputRow(src, 3, first: first, rows: rows, wd: wd, j, c)
            store(d0 - d2, e + j)
            store(d1 + d2, e + stride + j)
            store(d2 - d1, e + 2 * stride + j)
            store(d1 - d3, e + 3 * stride + j)
            j += 16
        }
    }

    /// F(4, 3)'s B^T along F on whole rows (see `rowTransform4`), six input rows.
    private static func rowTransform6(_ src: UnsafePointer<Float>, wd: Int, first: Int, rows: Int,
                                      into e: UnsafeMutablePointer<Float>, stride: Int) {
        var j = 0
        while j < wd {
            let c = min(16, wd - j)
            let d0 = inputRow(src, 0, first: first, rows: rows, wd: wd, j, c)
            let d1 = inputRow(src, 1, first: first, rows: rows, wd: wd, j, c)
            let d2 = inputRow(src, 2, first: first, rows: rows, wd: wd, j, c)
            let d3 = inputRow(src, 3, first: first, rows: rows, wd: wd, j, c)
            let d4 = inputRow(src, 4, first: first, rows: rows, wd: wd, j, c)
            let d5 = inputRow(src, 5, first: first, rows: rows, wd: wd, j, c)
            store6(bt6(d0, d1, d2, d3, d4, d5), e + j, stride: stride)
            j += 16
        }
    }

    /// Stores six vectors `stride` floats apart from `p`.
    @inline(__always)
    private static func store6(_ r: (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes), _ p: UnsafeMutablePointer<Float>,
                               stride: Int) {
        store(r.0, p)
        store(r.1, p + stride)
        store(r.2, p + 2 * stride)
        store(r.3, p + 3 * stride)
        store(r.4, p + 4 * stride)
        store(r.5, p + 5 * stride)
    }

    /// B^T d of F(4, 3) for a column d of six.
    @inline(__always)
    private static func bt6(_ d0: Lanes, _ d1: Lanes, _ d2: Lanes, _ d3: Lanes, _ d4: Lanes, _ d5: Lanes)
        -> (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) {
        let a = d4 - 4 * d2, b = d3 - 4 * d1      // rows 1 and 2: a + b, a - b
        let c = d4 - d2, dd = 2 * (d3 - d1)       // rows 3 and 4: c + dd, c - dd
        return (4 * d0 - 5 * d2 + d4, a + b, a - b, c + dd, c - dd, 4 * d1 - 5 * d3 + d5)
    }

    /// F(2, 3)'s B^T along T, per tile: with `c = e[p] + 2 tj`, point (p, q) of tile tj is
    /// written to `v[(4 p + q) * pointStride + tj]`, for the `rows` rows p (1 for a 1-D
    /// convolution). Sixteen tiles at a time by even/odd
    /// splits of 32 contiguous floats.
    private static func columnTransform4(_ e: UnsafePointer<Float>, stride: Int, rows: Int = 4, tiles: Int,
                                         into v: UnsafeMutablePointer<Float>, pointStride: Int) {
        for p in 0..<rows {
            let raw = UnsafeRawPointer(e + p * stride)
            let o = v + 4 * p * pointStride
            var tj = 0
            while tj < tiles {
                let x = raw.loadUnaligned(fromByteOffset: 8 * tj, as: SIMD32<Float>.self)
                let y = raw.loadUnaligned(fromByteOffset: 8 * tj + 8, as: SIMD32<Float>.self)
                let c0 = x.evenHalf, c1 = x.oddHalf, c2 = y.evenHalf, c3 = y.oddHalf
                store(c0 - c2, o + tj)
                store(c1 + c2, o + pointStride + tj)
                store(c2 - c1, o + 2 * pointStride + tj)
                store(c1 - c3, o + 3 * pointStride + tj)
                tj += 16
            }
        }
    }

    /// F(4, 3)'s B^T along T, per tile (see `columnTransform4`): `c = e[p] + 4 tj`, six points.
    /// Sixteen tiles at a time: `phases(at: 4 tj)` gives c0..c3, `phases(at: 4 tj + 4)` c4, c5.
    private static func columnTransform6(_ e: UnsafePointer<Float>, stride: Int, rows: Int = 6, tiles: Int,
                                         into v: UnsafeMutablePointer<Float>, pointStride: Int) {
        for p in 0..<rows {
            let row = e + p * stride
            let o = v + 6 * p * pointStride
            var tj = 0
            while tj < tiles {
                let (c0, c1, c2, c3) = phases(row + 4 * tj)
                let (c4, c5, _, _) = phases(row + 4 * tj + 4)
                store6(bt6(c0, c1, c2, c3, c4, c5), o + tj, stride: pointStride)
                tj += 16
            }
        }
    }

    /// The four stride-4 phases of the 64 floats at `p`: `(p[4k], p[4k + 1], p[4k + 2],
    /// p[4k + 3])` for k < 16, by two rounds of even/odd splits of 32-float vectors (64-float
    /// vectors compile to much slower code).
    @inline(__always)
    static func phases(_ p: UnsafePointer<Float>) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let raw = UnsafeRawPointer(p)
        let x = raw.loadUnaligned(as: SIMD32<Float>.self)
        let y = raw.loadUnaligned(fromByteOffset: 128, as: SIMD32<Float>.self)
        let even = SIMD32(lowHalf: x.evenHalf, highHalf: y.evenHalf)  // p[2k]: phases 0 and 2
        let odd = SIMD32(lowHalf: x.oddHalf, highHalf: y.oddHalf)     // p[2k + 1]: phases 1 and 3
        return (even.evenHalf, odd.evenHalf, even.oddHalf, odd.oddHalf)
    }

    /// A^T of F(2, 3) for a column of four.
    @inline(__always)
    private static func at4(_ m0: Lanes, _ m1: Lanes, _ m2: Lanes, _ m3: Lanes) -> (Lanes, Lanes) {
        (m0 + m1 + m2, m1 - m2 - m3)
    }

    /// A^T of F(4, 3) for a column of six.
    @inline(__always)
    private static func at6(_ m0: Lanes, _ m1: Lanes, _ m2: Lanes, _ m3: Lanes, _ m4: Lanes, _ m5: Lanes)
        -> (Lanes, Lanes, Lanes, Lanes) {
        let sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4
        return (m0 + sum12 + sum34, diff12 + 2 * diff34, sum12 + 4 * sum34, diff12 + 8 * diff34 + m5)
    }

    /// Y = A^T M A of F(2, 3) for tiles `0..<tiles` (rounded up to 16; the row stride of `y`
    /// leaves room): point xi of tile t is `m[xi * pointStride + t]`, output (i, j) goes to
    /// `y[(2 i + j) * stride + t]`.
    private static func outputTransform4(_ m: UnsafePointer<Float>, pointStride: Int, tiles: Int,
                                         into y: UnsafeMutablePointer<Float>, stride: Int) {
        @inline(__always) func at(_ xi: Int, _ t: Int) -> Lanes { load(m + (xi &* pointStride &+ t), 16) }
        var t = 0
        while t < tiles {
            // A^T M along F, per column q; then along T.
            let (s00, s10) = at4(at(0, t), at(4, t), at(8, t), at(12, t))
            let (s01, s11) = at4(at(1, t), at(5, t), at(9, t), at(13, t))
            let (s02, s12) = at4(at(2, t), at(6, t), at(10, t), at(14, t))
            let (s03, s13) = at4(at(3, t), at(7, t), at(11, t), at(15, t))
            let (y00, y01) = at4(s00, s01, s02, s03)
            let (y10, y11) = at4(s10, s11, s12, s13)
            store(y00, y + t)
            store(y01, y + stride + t)
            store(y10, y + 2 * stride + t)
            store(y11, y + 3 * stride + t)
            t += 16
        }
    }

    /// Y = A^T M A of F(4, 3) (see `outputTransform4`): 36 points, 4x4 outputs per tile.
    private static func outputTransform6(_ m: UnsafePointer<Float>, pointStride: Int, tiles: Int,
                                         into y: UnsafeMutablePointer<Float>, stride: Int) {
        @inline(__always) func at(_ xi: Int, _ t: Int) -> Lanes { load(m + (xi &* pointStride &+ t), 16) }
        var t = 0
        while t < tiles {
            // A^T M along F, per column q: s[i][q].
            let c0 = at6(at(0, t), at(6, t), at(12, t), at(18, t), at(24, t), at(30, t))
            let c1 = at6(at(1, t), at(7, t), at(13, t), at(19, t), at(25, t), at(31, t))
            let c2 = at6(at(2, t), at(8, t), at(14, t), at(20, t), at(26, t), at(32, t))
            let c3 = at6(at(3, t), at(9, t), at(15, t), at(21, t), at(27, t), at(33, t))
            let c4 = at6(at(4, t), at(10, t), at(16, t), at(22, t), at(28, t), at(34, t))
            let c5 = at6(at(5, t), at(11, t), at(17, t), at(23, t), at(29, t), at(35, t))
            // Along T, per output row i.
            let r0 = at6(c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)
            let r1 = at6(c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)
            let r2 = at6(c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)
            let r3 = at6(c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)
            @inline(__always) func put(_ i: Int, _ r: (Lanes, Lanes, Lanes, Lanes)) {
                let row = y + 4 * i * stride + t
                store(r.0, row)
                store(r.1, row + stride)
                store(r.2, row + 2 * stride)
                store(r.3, row + 3 * stride)
            }
            put(0, r0)
            put(1, r1)
            put(2, r2)
            put(3, r3)
            t += 16
        }
    }

    /// `row[2 k + j] = y_j[k]` for tiles `k < count`.
    private static func interleave2(_ y0: UnsafePointer<Float>, _ y1: UnsafePointer<Float>, _ count: Int,
                                    into row: UnsafeMutablePointer<Float>) {
        var k = 0
        while k + 16 <= count {
            var pair = SIMD32<Float>()
            pair.evenHalf = load(y0 + k, 16)
            pair.oddHalf = load(y1 + k, 16)
            UnsafeMutableRawPointer(row + 2 * k).storeBytes(of: pair, as: SIMD32<Float>.self)
            k += 16
        }
        while k < count {
            row[2 * k] = y0[k]
            row[2 * k + 1] = y1[k]
            k += 1
        }
    }

    /// `row[4 k + j] = y_j[k]` for tiles `k < count`.
    static func interleave4(_ y0: UnsafePointer<Float>, _ y1: UnsafePointer<Float>,
                                    _ y2: UnsafePointer<Float>, _ y3: UnsafePointer<Float>, _ count: Int,
                                    into row: UnsafeMutablePointer<Float>) {
        @inline(__always) func zip(_ a: Lanes, _ b: Lanes) -> SIMD32<Float> {
            var z = SIMD32<Float>()
            z.evenHalf = a
            z.oddHalf = b
            return z
        }
        var k = 0
        while k + 16 <= count {
            // Even positions of the result interleave y0 and y2, odd ones y1 and y3.
            let even = zip(load(y0 + k, 16), load(y2 + k, 16))
            let odd = zip(load(y1 + k, 16), load(y3 + k, 16))
            let out = UnsafeMutableRawPointer(row + 4 * k)
            out.storeBytes(of: zip(even.lowHalf, odd.lowHalf), as: SIMD32<Float>.self)
            (out + 128).storeBytes(of: zip(even.highHalf, odd.highHalf), as: SIMD32<Float>.self)
            k += 16
        }
        while k < count {
            row[4 * k] = y0[k]
            row[4 * k + 1] = y1[k]
            row[4 * k + 2] = y2[k]
            row[4 * k + 3] = y3[k]
            k += 1
        }
    }
}
