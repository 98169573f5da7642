/// A 16 x 16 float transpose in registers: `destination[i * destinationStride + j] =
/// source[j * sourceStride + i]` for i, j in 0..<16 (unaligned rows are fine).
///
/// Four rounds of the perfect unshuffle: new row i is the even elements of rows 2i and 2i + 1
/// side by side, new row 8 + i their odd elements. Each round rotates the 8-bit element address
/// (row bits, column bits) right by one bit, so four rounds swap rows and columns. The even/odd
/// halves of a `SIMD32` become one two-source permute each (`vpermt2ps` with AVX-512): 64
/// permutes per 256 values, where element-wise copies cost a load and a store per value and,
/// across a large matrix, a cache miss per store. Used by the denoise mask smoothing, which
/// needs the mask bin-major while the FFT delivers it frame-major.
@inline(__always)
func transpose16x16(_ source: UnsafePointer<Float>, sourceStride: Int,
                    _ destination: UnsafeMutablePointer<Float>, destinationStride: Int) {
    @inline(__always) func even(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD32<Float>(lowHalf: a, highHalf: b).evenHalf
    }
    @inline(__always) func odd(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD32<Float>(lowHalf: a, highHalf: b).oddHalf
    }
    @inline(__always) func load(_ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(source + i &* sourceStride).loadUnaligned(as: SIMD16<Float>.self)
    }
    var v0 = load(0)
    var v1 = load(1)
    var v2 = load(2)
    var v3 = load(3)
    var v4 = load(4)
    var v5 = load(5)
    var v6 = load(6)
    var v7 = load(7)
    var v8 = load(8)
    var v9 = load(9)
    var v10 = load(10)
    var v11 = load(11)
    var v12 = load(12)
    var v13 = load(13)
    var v14 = load(14)
    var v15 = load(15)
    for _ in 0..<4 {
        let w0 = even(v0, v1), w8 = odd(v0, v1)
        let w1 = even(v2, v3), w9 = odd(v2, v3)
        let w2 = even(v4, v5), w10 = odd(v4, v5)
        let w3 = even(v6, v7), w11 = odd(v6, v7)
        let w4 = even(v8, v9), w12 = odd(v8, v9)
        let w5 = even(v10, v11), w13 = odd(v10, v11)
        let w6 = even(v12, v13), w14 = odd(v12, v13)
        let w7 = even(v14, v15), w15 = odd(v14, v15)
        v0 = w0; v1 = w1; v2 = w2; v3 = w3
        v4 = w4; v5 = w5; v6 = w6; v7 = w7
        v8 = w8; v9 = w9; v10 = w10; v11 = w11
        v12 = w12; v13 = w13; v14 = w14; v15 = w15
    }
    @inline(__always) func store(_ v: SIMD16<Float>, _ i: Int) {
        UnsafeMutableRawPointer(destination + i &* destinationStride).storeBytes(of: v, as: SIMD16<Float>.self)
    }
    store(v0, 0); store(v1, 1); store(v2, 2); store(v3, 3)
    store(v4, 4); store(v5, 5); store(v6, 6); store(v7, 7)
    store(v8, 8); store(v9, 9); store(v10, 10); store(v11, 11)
    store(v12, 12); store(v13, 13); store(v14, 14); store(v15, 15)
}
