// The convolutional layers of HTDemucs (demucs/hdemucs.py, demucs/demucs.py): the DConv
// residual branch, the encoder layer (HEncLayer) and the decoder layer (HDecLayer), for both
// the frequency branch (convolutions over F, "freq") and the time branch.

/// A convolution's weight and bias.
struct ConvWeights {
    let weight: Parameter
    let bias: Parameter
    /// Whether `weight` is stored as `[kh][Cout][Cin*kw]` for the row-tap convolution
    /// (`Kernels.conv(rowTaps:)`) instead of PyTorch's `[Cout, Cin, kh, kw]`.
    var rowTaps = false
    /// For a 3x3 convolution or a kernel-3 one over time, the weights in the Winograd domain
    /// (`Kernels.winogradConv`, `Kernels.winogradConv1D`).
    var winograd: WinogradWeights?

    /// The same weights in the layout of the fastest kernel for them: the Winograd domain for a
    /// 3x3 convolution (F(4x4, 3x3) on inputs of at least 16 frequency `rows`, else
    /// F(2x2, 3x3)) and for a kernel-3 one over time (F(4, 3)), the row-tap layout for other
    /// 2-D convolutions with kh > 1, else as they are.
    ///
    /// Why 16 rows: F(4x4) needs 2.25 products per output where F(2x2) needs 4, but on 8 rows
    /// it has only 2 tile rows per item, and its 36 weight matrices (42 MB for the innermost
    /// layer of the default model) are streamed again for every small block; measured there,
    /// F(2x2) is faster.
    func prepared(rows: Int) -> ConvWeights {
        let s = weight.shape
        if s.count == 3 && s[2] == 3 {
            // Kernel 3 over time (the time branch's rewrite with context 1): F(4, 3).
            var w = self
            w.winograd = WinogradWeights(weight: weight.data, cout: s[0], cin: s[1], tile: 4, dims: 1)
            return w
        }
        guard s.count == 4, s[2] > 1 else { return self }
        if s[2] == 3 && s[3] == 3 {
            var w = self
            w.winograd = WinogradWeights(weight: weight.data, cout: s[0], cin: s[1], tile: rows >= 16 ? 4 : 2)
            return w
        }
        let (cout, cin, kh, kw) = (s[0], s[1], s[2], s[3])
        var taps = [Float](repeating: 0, count: weight.count)
        for co in 0..<cout {
            for ci in 0..<cin {
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        taps[(ki * cout + co) * cin * kw + ci * kw + kj] = weight.data[((co * cin + ci) * kh + ki) * kw + kj]
                    }
                }
            }
        }
        return ConvWeights(weight: Parameter(shape: [kh, cout, cin * kw], values: taps), bias: bias, rowTaps: true)
    }
}

/// A GroupNorm's groups and affine parameters.
struct GroupNormWeights {
    let groups: Int
    let weight: Parameter
    let bias: Parameter

    static func load(_ store: WeightStore, _ prefix: String, groups: Int, channels: Int) throws -> GroupNormWeights {
        GroupNormWeights(groups: groups, weight: try store.take(prefix + ".weight", [channels]),
                         bias: try store.take(prefix + ".bias", [channels]))
    }

    func apply(_ x: Activation, gelu: Bool = false, items: Int? = nil, plane: Int? = nil) {
        Kernels.groupNorm(x, groups: groups, weight: weight.data, bias: bias.data, gelu: gelu,
                          items: items, plane: plane)
    }
}

extension ConvWeights {
    /// The "rewrite" step of HEncLayer/HDecLayer with these weights: a 1x1 (or, with
    /// `context`, (1 + 2 context)-wide, over F too in the frequency branch) convolution to
    /// 2C channels, the optional GroupNorm, then GLU back to C channels. Without a norm the
    /// GLU is fused into the convolution.
    func rewriteGLU(_ x: Activation, norm: GroupNormWeights?, context: Int, freq: Bool) -> Activation {
        func conv(_ epilogue: ConvEpilogue) -> Activation {
            if let winograd {
                // Kernel 3 (3x3 or 3 over time), stride 1, padding 1: what F(m, 3) computes.
                return winograd.dims == 1
                    ? Kernels.winogradConv1D(x, winograd, bias: bias.data, epilogue: epilogue)
                    : Kernels.winogradConv(x, winograd, bias: bias.data, epilogue: epilogue)
            }
            var g = ConvGeometry()
            let k = 1 + 2 * context
            if freq { g.kh = k; g.ph = context }
            g.kw = k; g.pw = context
            return Kernels.conv(x, weight: weight.data, bias: bias.data, cout: bias.count, g, epilogue: epilogue,
                                rowTaps: rowTaps)
        }
        guard let norm else { return conv(.glu) }
        let r = conv(.none)
        norm.apply(r)
        return Kernels.glu(r)
    }

    static func load(_ store: WeightStore, _ prefix: String, _ shape: [Int]) throws -> ConvWeights {
        ConvWeights(weight: try store.take(prefix + ".weight", shape),
                    bias: try store.take(prefix + ".bias", [shape[0]]))
    }
}

/// DConv: residual branches of dilated convolutions along time, each
/// `x += scale * GLU(GN(conv1x1(GELU(GN(conv_k3_dilated(x))))))`.
/// In the frequency branch it runs on every frequency row as its own sequence.
struct DConv {
    struct Branch {
        let dilation: Int
        let conv1: ConvWeights
        /// conv1's weight `[hidden, C, 3]` by tap: `[3][hidden][C]` (the fused kernel's layout).
        let conv1Taps: Parameter
        let norm1: GroupNormWeights
        let conv2: ConvWeights
        let norm2: GroupNormWeights
        let scale: Parameter
    }
    let channels: Int
    let hidden: Int
    let branches: [Branch]

    init(_ store: WeightStore, _ prefix: String, channels: Int, compress: Double, depth: Int) throws {
        self.channels = channels
        hidden = Int(Double(channels) / compress)
        var branches: [Branch] = []
        let dilate = depth > 0
        for d in 0..<abs(depth) {
            let p = "\(prefix).layers.\(d)"
            let conv1 = try ConvWeights.load(store, p + ".0", [hidden, channels, 3])
            var taps = [Float](repeating: 0, count: 3 * hidden * channels)
            for o in 0..<hidden {
                for ci in 0..<channels {
                    for tap in 0..<3 { taps[(tap * hidden + o) * channels + ci] = conv1.weight.data[(o * channels + ci) * 3 + tap] }
                }
            }
            branches.append(Branch(
                dilation: dilate ? 1 << d : 1,
                conv1: conv1,
                conv1Taps: Parameter(shape: [3, hidden, channels], values: taps),
                norm1: try .load(store, p + ".1", groups: 1, channels: hidden),
                conv2: try .load(store, p + ".3", [2 * channels, hidden, 1]),
                norm2: try .load(store, p + ".4", groups: 1, channels: 2 * channels),
                scale: try store.take(p + ".6.scale", [channels])))
        }
        self.branches = branches
    }

    /// In place on `x [C, B, F, T]`: every (item, frequency row) is one sequence over T.
    func forward(_ x: Activation) {
        let sequences = x.b * x.f, length = x.t
        if Kernels.residualBranchFloats(channels: channels, hidden: hidden, length: length) <= residualBranchSequenceBudget
            && branches.allSatisfy({ $0.dilation < length }) {
            // Short sequences (every frequency-branch layer, the deeper time layers): each
            // branch fused per tile of sequences, in cache.
            for br in branches {
                Kernels.residualBranch(x, ResidualBranchWeights(
                    dilation: br.dilation, hidden: hidden,
                    conv1Taps: br.conv1Taps.data, bias1: br.conv1.bias.data,
                    norm1Weight: br.norm1.weight.data, norm1Bias: br.norm1.bias.data,
                    conv2: br.conv2.weight.data, bias2: br.conv2.bias.data,
                    norm2Weight: br.norm2.weight.data, norm2Bias: br.norm2.bias.data,
                    scale: br.scale.data))
            }
            return
        }
        for br in branches {
            var g = ConvGeometry()
            g.kw = 3; g.dw = br.dilation; g.pw = br.dilation
            let h = Kernels.conv(x, weight: br.conv1.weight.data, bias: br.conv1.bias.data, cout: hidden, g)
            br.norm1.apply(h, gelu: true, items: sequences, plane: length)
            let y = Kernels.conv(h, weight: br.conv2.weight.data, bias: br.conv2.bias.data,
                                 cout: 2 * channels, ConvGeometry())
            br.norm2.apply(y, items: sequences, plane: length)
            Kernels.addScaledGLU(x, y, scale: br.scale.data)
        }
    }
}

/// HEncLayer: strided convolution (over F in the frequency branch, over time otherwise),
/// optional GroupNorm, GELU, DConv, then a 1x1 (or context) "rewrite" convolution with GLU.
/// An `empty` layer is only the first convolution (the time branch's last layer before the
/// two branches merge).
struct EncoderLayer {
    let freq: Bool
    let empty: Bool
    let cin: Int
    let cout: Int
    let kernel: Int
    let stride: Int
    let pad: Int
    let context: Int
    let conv: ConvWeights
    /// The frequency branch's convolution (kernel 2 x stride) over polyphase rows
    /// (`Kernels.polyphaseConv`).
    let polyphase: PolyphaseWeights?
    /// The time branch's convolution (kernel 2 x stride) over the input's phases
    /// (`Kernels.convOverTimeByPhase`).
    let timePhases: TimePhaseWeights?
    let norm1: GroupNormWeights?
    let rewrite: ConvWeights?
    let norm2: GroupNormWeights?
    let dconv: DConv?

    init(_ store: WeightStore, _ prefix: String, cin: Int, cout: Int, kernel: Int, stride: Int,
         normGroups: Int, empty: Bool, freq: Bool, dconv: Bool, norm: Bool, context: Int,
         pad: Bool, rewrite: Bool, rows: Int, dconvComp: Double, dconvDepth: Int) throws {
        self.freq = freq
        self.empty = empty
        self.cin = cin
        self.cout = cout
        self.kernel = kernel
        self.stride = stride
        self.pad = pad ? kernel / 4 : 0
        self.context = context
        conv = try .load(store, prefix + ".conv", freq ? [cout, cin, kernel, 1] : [cout, cin, kernel])
        polyphase = freq && kernel == 2 * stride
            ? PolyphaseWeights(weight: conv.weight.data, cout: cout, cin: cin, stride: stride) : nil
        timePhases = !freq && kernel == 2 * stride
            ? TimePhaseWeights(weight: conv.weight.data, cout: cout, cin: cin, stride: stride) : nil
        if empty {
            norm1 = nil; self.rewrite = nil; norm2 = nil; self.dconv = nil
            return
        }
        norm1 = norm ? try .load(store, prefix + ".norm1", groups: normGroups, channels: cout) : nil
        if rewrite {
            let k = 1 + 2 * context
            self.rewrite = try ConvWeights.load(store, prefix + ".rewrite", freq ? [2 * cout, cout, k, k] : [2 * cout, cout, k])
                .prepared(rows: rows)
            norm2 = norm ? try .load(store, prefix + ".norm2", groups: normGroups, channels: 2 * cout) : nil
        } else {
            self.rewrite = nil; norm2 = nil
        }
        self.dconv = dconv ? try DConv(store, prefix + ".dconv", channels: cout, compress: dconvComp, depth: dconvDepth) : nil
    }

    func forward(_ input: Activation, inject: Activation?) -> Activation {
        var x = input
        var g = ConvGeometry()
        if freq {
            g.kh = kernel; g.sh = stride; g.ph = pad
        } else {
            if x.f != 1 { x = Reshape.foldFrequencyIntoChannels(x) }
            g.kw = kernel; g.sw = stride; g.pw = pad
            let le = x.t
            if le % stride != 0 { g.padRight = stride - le % stride }
        }
        // GELU right after the convolution (no injection, no norm between): fused.
        let fuseGelu = !empty && inject == nil && norm1 == nil
        let y = if let polyphase {
            Kernels.polyphaseConv(x, polyphase, bias: conv.bias.data, pad: pad, epilogue: fuseGelu ? .gelu : .none)
        } else if let timePhases {
            Kernels.convOverTimeByPhase(x, timePhases, bias: conv.bias.data, pad: pad, padRight: g.padRight,
                                        epilogue: fuseGelu ? .gelu : .none)
        } else {
            Kernels.conv(x, weight: conv.weight.data, bias: conv.bias.data, cout: cout, g,
                         epilogue: fuseGelu ? .gelu : .none)
        }
        if empty { return y }
        if let inject {
            precondition(inject.t == y.t && inject.c == y.c, "inject shape")
            Parallel.forRanges(y.c, cost: y.columns) { channels in
                for ch in channels {
                    for item in 0..<y.b {
                        let dst = y.at(ch, item), src = inject.at(ch, item)
                        for fr in 0..<y.f {
                            let row = dst + fr * y.t
                            for t in 0..<y.t { row[t] += src[t] }
                        }
                    }
                }
            }
        }
        if let norm1 { norm1.apply(y, gelu: true) } else if !fuseGelu { Kernels.gelu(y) }
        dconv?.forward(y)
        guard let rewrite else { return y }
        return rewrite.rewriteGLU(y, norm: norm2, context: context, freq: freq)
    }
}

/// HDecLayer: skip addition, rewrite convolution with GLU, DConv, then the transposed
/// convolution, optional GroupNorm (over the uncropped output), crop, GELU (except last).
struct DecoderLayer {
    let freq: Bool
    let empty: Bool
    let last: Bool
    let cin: Int
    let cout: Int
    let kernel: Int
    let stride: Int
    let pad: Int
    let context: Int
    let convTr: ConvWeights
    /// The frequency branch's transposed convolution (kernel 2 x stride) by output phases
    /// (`Kernels.polyphaseConvTranspose`).
    let polyphase: PolyphaseWeights?
    let norm2: GroupNormWeights?
    let rewrite: ConvWeights?
    let norm1: GroupNormWeights?
    let dconv: DConv?

    init(_ store: WeightStore, _ prefix: String, cin: Int, cout: Int, last: Bool, kernel: Int, stride: Int,
         normGroups: Int, empty: Bool, freq: Bool, dconv: Bool, norm: Bool, context: Int,
         pad: Bool, rewrite: Bool, rows: Int, dconvComp: Double, dconvDepth: Int) throws {
        self.freq = freq
        self.empty = empty
        self.last = last
        self.cin = cin
        self.cout = cout
        self.kernel = kernel
        self.stride = stride
        self.pad = pad ? kernel / 4 : 0
        self.context = context
        convTr = ConvWeights(weight: try store.take(prefix + ".conv_tr.weight", freq ? [cin, cout, kernel, 1] : [cin, cout, kernel]),
                             bias: try store.take(prefix + ".conv_tr.bias", [cout]))
        polyphase = freq && kernel == 2 * stride && !norm
            ? PolyphaseWeights(transposedWeight: convTr.weight.data, cin: cin, cout: cout, stride: stride) : nil
        norm2 = norm ? try .load(store, prefix + ".norm2", groups: normGroups, channels: cout) : nil
        if empty {
            self.rewrite = nil; norm1 = nil; self.dconv = nil
            return
        }
        if rewrite {
            let k = 1 + 2 * context
            self.rewrite = try ConvWeights.load(store, prefix + ".rewrite", freq ? [2 * cin, cin, k, k] : [2 * cin, cin, k])
                .prepared(rows: rows)
            norm1 = norm ? try .load(store, prefix + ".norm1", groups: normGroups, channels: 2 * cin) : nil
        } else {
            self.rewrite = nil; norm1 = nil
        }
        self.dconv = dconv ? try DConv(store, prefix + ".dconv", channels: cin, compress: dconvComp, depth: dconvDepth) : nil
    }

    /// Returns the layer's output `z` and `pre`, the input of the transposed convolution.
    func forward(_ input: Activation, skip: Activation?, length: Int) -> (z: Activation, pre: Activation) {
        let x = input
        var y: Activation
        if !empty {
            if let skip {
                precondition(skip.count == x.count, "skip shape")
                Kernels.add(x, skip)
            }
            if let rewrite {
                y = rewrite.rewriteGLU(x, norm: norm1, context: context, freq: freq)
            } else {
                y = x
            }
            dconv?.forward(y)
        } else {
            y = x
        }
        var g = ConvGeometry()
        let z: Activation
        if freq {
            g.kh = kernel; g.sh = stride
            let full = (y.f - 1) * stride + kernel
            let keep = pad..<(full - pad)
            if let norm2 {
                let whole = Kernels.convTranspose(y, weight: convTr.weight.data, bias: convTr.bias.data, cout: cout, g,
                                                  hKeep: 0..<full, wKeep: 0..<y.t)
                norm2.apply(whole)
                z = Reshape.crop(whole, f: keep, t: 0..<y.t)
            } else if let polyphase {
                z = Kernels.polyphaseConvTranspose(y, polyphase, bias: convTr.bias.data, pad: pad, keep: keep.count,
                                                   gelu: !last)
            } else {
                z = Kernels.convTranspose(y, weight: convTr.weight.data, bias: convTr.bias.data, cout: cout, g,
                                          hKeep: keep, wKeep: 0..<y.t, gelu: !last)
            }
        } else {
            g.kw = kernel; g.sw = stride
            let full = (y.t - 1) * stride + kernel
            let keep = pad..<(pad + length)
            precondition(pad + length <= full, "decoder crop beyond its output")
            if let norm2 {
                let whole = Kernels.convTranspose(y, weight: convTr.weight.data, bias: convTr.bias.data, cout: cout, g,
                                                  hKeep: 0..<1, wKeep: 0..<full)
                norm2.apply(whole)
                z = Reshape.crop(whole, f: 0..<1, t: keep)
            } else {
                z = Kernels.convTranspose(y, weight: convTr.weight.data, bias: convTr.bias.data, cout: cout, g,
                                          hKeep: 0..<1, wKeep: keep, gelu: !last)
            }
        }
        if !last && norm2 != nil { Kernels.gelu(z) }  // else fused above
        return (z, y)
    }
}

/// Layout changes between the branches.
enum Reshape {
    /// `[C, B, F, T]` -> `[C*F, B, 1, T]` (PyTorch's `x.view(B, C*F, T)` on `[B, C, F, T]`).
    static func foldFrequencyIntoChannels(_ x: Activation) -> Activation {
        let out = x.new(c: x.c * x.f, f: 1, t: x.t)
        Parallel.forRanges(x.c, cost: x.columns) { channels in
            for ch in channels {
                for item in 0..<x.b {
                    for fr in 0..<x.f {
                        out.at(ch * x.f + fr, item).update(from: x.at(ch, item) + fr * x.t, count: x.t)
                    }
                }
            }
        }
        return out
    }

    /// `[C*F, B, 1, T]` -> `[C, B, F, T]` (PyTorch's `x.view(B, C, F, T)` on `[B, C*F, T]`).
    static func unfoldChannelsIntoFrequency(_ x: Activation, channels: Int) -> Activation {
        let f = x.c / channels
        let out = x.new(c: channels, f: f, t: x.t)
        Parallel.forRanges(channels, cost: out.columns) { range in
            for ch in range {
                for item in 0..<x.b {
                    for fr in 0..<f {
                        (out.at(ch, item) + fr * x.t).update(from: x.at(ch * f + fr, item), count: x.t)
                    }
                }
            }
        }
        return out
    }

    /// The sub-block `f` x `t` of every (channel, item) plane.
    static func crop(_ x: Activation, f: Range<Int>, t: Range<Int>) -> Activation {
        let out = x.new(c: x.c, f: f.count, t: t.count)
        Parallel.forRanges(x.c, cost: out.columns) { channels in
            for ch in channels {
                for item in 0..<x.b {
                    let src = x.at(ch, item), dst = out.at(ch, item)
                    for (i, fr) in f.enumerated() {
                        (dst + i * t.count).update(from: src + fr * x.t + t.lowerBound, count: t.count)
                    }
                }
            }
        }
        return out
    }
}
