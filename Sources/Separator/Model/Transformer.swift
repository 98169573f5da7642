// The cross-domain transformer of HTDemucs (demucs/transformer.py, CrossTransformerEncoder):
// the spectrogram tokens (one per frequency row and frame) and the waveform tokens go through
// alternating self-attention layers and cross-attention layers (each branch attending to the
// other), with 2-D / 1-D sinusoidal positional embeddings.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// LayerNorm, or demucs's `MyGroupNorm` (GroupNorm over all tokens and channels of an item).
enum TokenNorm {
    case layer(weight: Parameter, bias: Parameter)
    case group(GroupNormWeights)
    case identity

    static func layer(_ store: WeightStore, _ prefix: String, _ dim: Int) throws -> TokenNorm {
        .layer(weight: try store.take(prefix + ".weight", [dim]), bias: try store.take(prefix + ".bias", [dim]))
    }

    static func group(_ store: WeightStore, _ prefix: String, _ dim: Int, groups: Int) throws -> TokenNorm {
        .group(try .load(store, prefix, groups: groups, channels: dim))
    }

    /// In place.
    func apply(_ x: Activation) {
        switch self {
        case .layer(let w, let b): Kernels.layerNorm(x, weight: w.data, bias: b.data)
        case .group(let g): g.apply(x)
        case .identity: break
        }
    }

    /// A normalized copy.
    func applied(_ x: Activation) -> Activation {
        if case .layer(let w, let b) = self {
            let y = x.new(c: x.c, f: x.f, t: x.t)
            Kernels.layerNorm(x, into: y, weight: w.data, bias: b.data)
            return y
        }
        let y = x.copy()
        apply(y)
        return y
    }
}

/// One transformer layer: `MyTransformerEncoderLayer` (self-attention) or
/// `CrossTransformerEncoderLayer` (cross-attention), both batch_first, no dropout.
struct TransformerLayer {
    let cross: Bool
    let dim: Int
    let heads: Int
    let hidden: Int
    let normFirst: Bool
    let gelu: Bool
    let inProj: Parameter
    let inBias: Parameter
    let outProj: Parameter
    let outBias: Parameter
    let linear1: ConvWeights
    let linear2: ConvWeights
    let norm1: TokenNorm
    let norm2: TokenNorm
    let norm3: TokenNorm  // cross layers only
    let normOut: GroupNormWeights?
    let gamma1: Parameter?
    let gamma2: Parameter?

    init(_ store: WeightStore, _ prefix: String, cross: Bool, config c: HTDemucsConfig, dim: Int) throws {
        self.cross = cross
        self.dim = dim
        heads = c.tHeads
        hidden = Int(Double(dim) * c.tHiddenScale)
        normFirst = c.tNormFirst
        gelu = c.tGelu
        let attn = prefix + (cross ? ".cross_attn" : ".self_attn")
        inProj = try store.take(attn + ".in_proj_weight", [3 * dim, dim])
        inBias = try store.take(attn + ".in_proj_bias", [3 * dim])
        outProj = try store.take(attn + ".out_proj.weight", [dim, dim])
        outBias = try store.take(attn + ".out_proj.bias", [dim])
        linear1 = try .load(store, prefix + ".linear1", [hidden, dim])
        linear2 = try .load(store, prefix + ".linear2", [dim, hidden])
        func norm(_ name: String) throws -> TokenNorm {
            c.tGroupNorm > 0 ? try .group(store, prefix + "." + name, dim, groups: c.tGroupNorm)
                             : try .layer(store, prefix + "." + name, dim)
        }
        norm1 = try norm("norm1")
        norm2 = try norm("norm2")
        norm3 = cross ? try norm("norm3") : .identity
        normOut = (c.tNormFirst && c.tNormOut) ? try .load(store, prefix + ".norm_out", groups: 1, channels: dim) : nil
        gamma1 = c.tLayerScale ? try store.take(prefix + ".gamma_1.scale", [dim]) : nil
        gamma2 = c.tLayerScale ? try store.take(prefix + ".gamma_2.scale", [dim]) : nil
    }

    private func attention(_ q: Activation, _ kv: Activation) -> Activation {
        Kernels.attention(query: q, keyValue: kv, heads: heads, inProj: inProj.data, inBias: inBias.data,
                          outProj: outProj.data, outBias: outBias.data)
    }

    private func feedForward(_ x: Activation) -> Activation {
        let h = Kernels.linear(x, weight: linear1.weight.data, bias: linear1.bias.data, outChannels: hidden,
                               epilogue: gelu ? .gelu : .none)
        if !gelu { Kernels.relu(h) }
        return Kernels.linear(h, weight: linear2.weight.data, bias: linear2.bias.data, outChannels: dim)
    }

    /// `x [dim, B, F, T]` tokens, updated in place; `other` the other branch's tokens (cross).
    func forward(_ x: Activation, other: Activation?) {
        if normFirst {
            let a: Activation
            if cross, let other {
                a = attention(norm1.applied(x), norm2.applied(other))
            } else {
                let n = norm1.applied(x)
                a = attention(n, n)
            }
            Kernels.addScaled(x, a, scale: gamma1?.data)
            let f = feedForward((cross ? norm3 : norm2).applied(x))
            Kernels.addScaled(x, f, scale: gamma2?.data)
            normOut?.apply(x)
        } else {
            let a = attention(x, cross ? other! : x)
            Kernels.addScaled(x, a, scale: gamma1?.data)
            norm1.apply(x)
            let f = feedForward(x)
            Kernels.addScaled(x, f, scale: gamma2?.data)
            norm2.apply(x)
        }
    }
}

/// CrossTransformerEncoder.
struct CrossTransformer {
    let dim: Int
    let config: HTDemucsConfig
    let normIn: TokenNorm
    let normInT: TokenNorm
    let layers: [TransformerLayer]
    let layersT: [TransformerLayer]
    let positionEmbeddings: Parameter?
    /// The sinusoidal embeddings of the token grids seen so far.
    private let embeddings = EmbeddingCache()

    init(_ store: WeightStore, _ prefix: String, config c: HTDemucsConfig, dim: Int) throws {
        self.dim = dim
        config = c
        if c.tNormIn {
            normIn = try .layer(store, prefix + ".norm_in", dim)
            normInT = try .layer(store, prefix + ".norm_in_t", dim)
        } else if c.tNormInGroup > 0 {
            normIn = try .group(store, prefix + ".norm_in", dim, groups: c.tNormInGroup)
            normInT = try .group(store, prefix + ".norm_in_t", dim, groups: c.tNormInGroup)
        } else {
            normIn = .identity
            normInT = .identity
        }
        let classicParity = c.tCrossFirst ? 1 : 0
        var layers: [TransformerLayer] = [], layersT: [TransformerLayer] = []
        for idx in 0..<c.tLayers {
            let cross = idx % 2 != classicParity
            layers.append(try TransformerLayer(store, "\(prefix).layers.\(idx)", cross: cross, config: c, dim: dim))
            layersT.append(try TransformerLayer(store, "\(prefix).layers_t.\(idx)", cross: cross, config: c, dim: dim))
        }
        self.layers = layers
        self.layersT = layersT
        positionEmbeddings = c.tEmb == "scaled"
            ? try store.take(prefix + ".position_embeddings.embedding.weight", [c.tMaxPositions, dim]) : nil
    }

    /// `x [dim, B, Fr, T1]` (spectral tokens) and `xt [dim, B, 1, T2]` (waveform tokens), in place.
    func forward(_ x: Activation, _ xt: Activation) {
        let w = Float(config.tWeightPosEmbed)
        normIn.apply(x)
        let fr = x.f, t1 = x.t
        let spectral = embeddings.spectral(frequencies: fr, frames: t1) { spectralEmbedding(frequencies: fr, frames: t1) }
        add(w, spectral, to: x)
        normInT.apply(xt)
        let t2 = xt.t
        let waveform = embeddings.waveform(length: t2) {
            var values = [Float](repeating: 0, count: dim * t2)
            for ch in 0..<dim {
                for t in 0..<t2 { values[ch * t2 + t] = positionalEmbedding(t, ch, length: t2) }
            }
            return values
        }
        add(w, waveform, to: xt)
        for idx in 0..<layers.count {
            if !layers[idx].cross {
                layers[idx].forward(x, other: nil)
                layersT[idx].forward(xt, other: nil)
            } else {
                let oldX = x.copy()
                layers[idx].forward(x, other: xt)
                layersT[idx].forward(xt, other: oldX)
            }
        }
    }

    /// `x[ch, item] += weight * embedding[ch]` for every item (`embedding [C, plane]`).
    private func add(_ weight: Float, _ embedding: [Float], to x: Activation) {
        let plane = x.plane
        embedding.withUnsafeBufferPointer { e in
            let e = e.baseAddress!
            Parallel.forRanges(x.c, cost: x.columns) { channels in
                for ch in channels {
                    let src = e + ch * plane
                    for item in 0..<x.b {
                        let p = x.at(ch, item)
                        for k in 0..<plane { p[k] += weight * src[k] }
                    }
                }
            }
        }
    }

    /// create_2d_sin_embedding(C, Fr, T1) as `[C, Fr * T1]`, in float32 as torch computes it.
    private func spectralEmbedding(frequencies fr: Int, frames t1: Int) -> [Float] {
        let c = dim, half = c / 2
        var divTerm = [Float](repeating: 0, count: (half + 1) / 2)
        for (i, k) in stride(from: 0, to: half, by: 2).enumerated() {
            divTerm[i] = expf(Float(k) * Float(-(log(config.tMaxPeriod) / Double(half))))
        }
        var values = [Float](repeating: 0, count: c * fr * t1)
        for ch in 0..<c {
            for f in 0..<fr {
                for t in 0..<t1 {
                    let v: Float
                    if ch < half {
                        let arg = Float(t) * divTerm[ch / 2]
                        v = ch % 2 == 0 ? sinf(arg) : cosf(arg)
                    } else {
                        let arg = Float(f) * divTerm[(ch - half) / 2]
                        v = (ch - half) % 2 == 0 ? sinf(arg) : cosf(arg)
                    }
                    values[(ch * fr + f) * t1 + t] = v
                }
            }
        }
        return values
    }

    /// The waveform branch's positional embedding at position `t`, channel `ch`.
    private func positionalEmbedding(_ t: Int, _ ch: Int, length: Int) -> Float {
        let half = dim / 2
        switch config.tEmb {
        case "scaled":
            // ScaledEmbedding(max_positions, dim, scale=0.2) with boost 3.
            return positionEmbeddings!.data[t * dim + ch] * 3
        default:
            // create_sin_embedding / create_sin_embedding_cape (eval: no augmentation).
            var pos = Float(t)
            if config.tEmb == "cape" && config.tCapeMeanNormalize {
                pos -= Float(length - 1) / 2
            }
            let k = ch % half
            let exponent = Float(k) / Float(half - 1)
            let phase = pos / powf(Float(config.tMaxPeriod), exponent)
            return ch < half ? cosf(phase) : sinf(phase)
        }
    }
}

/// Positional embeddings by token grid, made on first use and kept (a few grids: the model's
/// segment, a shorter last input). They depend only on the grid, and making them (a sin or cos
/// per value, 0.7 M values at the default model's bottom) took 1.5 % of every pass.
private final class EmbeddingCache: Sendable {
    /// Grids kept of each kind before the cache starts over.
    private static let capacity = 4
    private let spectralGrids = Synchronization.Mutex<[Int: [Float]]>([:])
    private let waveformGrids = Synchronization.Mutex<[Int: [Float]]>([:])

    /// The 2-D embedding of `frequencies x frames` tokens, `make`'s result the first time.
    func spectral(frequencies: Int, frames: Int, _ make: () -> [Float]) -> [Float] {
        Self.lookUp(spectralGrids, key: frequencies << 32 | frames, make)
    }

    /// The 1-D embedding of `length` tokens, `make`'s result the first time.
    func waveform(length: Int, _ make: () -> [Float]) -> [Float] {
        Self.lookUp(waveformGrids, key: length, make)
    }

    private static func lookUp(_ grids: borrowing Synchronization.Mutex<[Int: [Float]]>, key: Int, _ make: () -> [Float]) -> [Float] {
        if let known = grids.withLock({ $0[key] }) { return known }
        let made = make()
        grids.withLock { cache in
            if cache.count >= capacity { cache.removeAll() }
            cache[key] = made
        }
        return made
    }
}
