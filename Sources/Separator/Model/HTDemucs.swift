// HTDemucs (Rouard, Massa, Defossez 2023, "Hybrid Transformers for Music Source Separation"),
// as demucs 4.1.0's demucs/htdemucs.py builds and runs it in eval mode: a spectrogram branch
// (complex-as-channels STFT, convolutions over frequency) and a waveform branch (convolutions
// over time), a U-Net encoder/decoder each, joined by a cross-domain transformer at the
// bottom, the two branches' outputs summed at the end.
#if canImport(Glibc)
import Glibc
#endif

/// A callback receiving named intermediate tensors (the tests' per-layer path); names follow
/// the PyTorch modules: `spec`, `encoder.i`, `tencoder.i`, `crosstransformer.x`, ...
typealias LayerTrace = (String, Activation) -> Void

/// An HTDemucs model with its weights, ready to run.
final class HTDemucs {
    let config: HTDemucsConfig
    let encoder: [EncoderLayer]
    let tencoder: [EncoderLayer]
    let decoder: [DecoderLayer]
    let tdecoder: [DecoderLayer]
    let freqEmbedding: Parameter?
    let channelUpsampler: ConvWeights?
    let channelDownsampler: ConvWeights?
    let channelUpsamplerT: ConvWeights?
    let channelDownsamplerT: ConvWeights?
    let transformer: CrossTransformer?
    let bottomChannels: Int
    let transformerChannels: Int
    let spectrogram: Spectrogram

    /// Builds the layers as HTDemucs.__init__ does, taking and checking every tensor.
    init(config c: HTDemucsConfig, weights store: WeightStore) throws {
        config = c
        struct Spec { var index: Int; var freq: Bool; var lastFreq: Bool; var ker: Int; var stri: Int
                      var pad: Bool; var norm: Bool; var chin: Int; var chinZ: Int; var chout: Int
                      var choutZ: Int; var decChin: Int; var decChinZ: Int
                      /// Frequency rows of the layer's output (the rewrite convolutions' input).
                      var rows = 1 }
        var specs: [Spec] = []
        var chin = c.audioChannels, chinZ = 2 * chin
        var chout = c.channelsTime ?? c.channels, choutZ = c.channels
        var freqs = c.nfft / 2
        var embFreqs = 0, embChannels = 0
        for index in 0..<c.depth {
            let norm = index >= c.normStarts
            let freq = freqs > 1
            var stri = c.stride, ker = c.kernelSize
            if !freq { ker = c.timeStride * 2; stri = c.timeStride }
            var pad = true, lastFreq = false
            if freq && freqs <= c.kernelSize { ker = freqs; pad = false; lastFreq = true }
            if lastFreq { choutZ = max(chout, choutZ); chout = choutZ }
            var s = Spec(index: index, freq: freq, lastFreq: lastFreq, ker: ker, stri: stri, pad: pad, norm: norm,
                         chin: chin, chinZ: chinZ, chout: chout, choutZ: choutZ, decChin: 0, decChinZ: 0)
            if index == 0 { chin = c.audioChannels * c.sources.count; chinZ = 2 * chin }
            s.decChin = chin; s.decChinZ = chinZ
            chin = chout; chinZ = choutZ
            chout = Int(c.growth * Double(chout)); choutZ = Int(c.growth * Double(choutZ))
            if freq { freqs = freqs <= c.kernelSize ? 1 : freqs / c.stride }
            s.rows = freq ? freqs : 1
            specs.append(s)
            if index == 0 && c.freqEmb != 0 { embFreqs = freqs; embChannels = chinZ }
        }
        let nT = specs.filter(\.freq).count
        var encoder: [EncoderLayer] = [], tencoder: [EncoderLayer] = []
        var decoder: [DecoderLayer] = [], tdecoder: [DecoderLayer] = []
        let dconvEnc = c.dconvMode & 1 != 0, dconvDec = c.dconvMode & 2 != 0
        for s in specs {
            encoder.append(try EncoderLayer(store, "encoder.\(s.index)", cin: s.chinZ, cout: s.choutZ, kernel: s.ker,
                                            stride: s.stri, normGroups: c.normGroups, empty: false, freq: s.freq,
                                            dconv: dconvEnc, norm: s.norm, context: c.contextEnc, pad: s.pad,
                                            rewrite: c.rewrite, rows: s.rows, dconvComp: c.dconvComp, dconvDepth: c.dconvDepth))
            if s.freq {
                tencoder.append(try EncoderLayer(store, "tencoder.\(s.index)", cin: s.chin, cout: s.chout,
                                                 kernel: c.kernelSize, stride: c.stride, normGroups: c.normGroups,
                                                 empty: s.lastFreq, freq: false, dconv: dconvEnc, norm: s.norm,
                                                 context: c.contextEnc, pad: true, rewrite: c.rewrite,
                                                 rows: 1, dconvComp: c.dconvComp, dconvDepth: c.dconvDepth))
            }
        }
        for s in specs.reversed() {
            decoder.append(try DecoderLayer(store, "decoder.\(c.depth - 1 - s.index)", cin: s.choutZ, cout: s.decChinZ,
                                            last: s.index == 0, kernel: s.ker, stride: s.stri, normGroups: c.normGroups,
                                            empty: false, freq: s.freq, dconv: dconvDec, norm: s.norm,
                                            context: c.context, pad: s.pad, rewrite: c.rewrite, rows: s.rows,
                                            dconvComp: c.dconvComp, dconvDepth: c.dconvDepth))
            if s.freq {
                tdecoder.append(try DecoderLayer(store, "tdecoder.\(nT - 1 - s.index)", cin: s.chout, cout: s.decChin,
                                                 last: s.index == 0, kernel: c.kernelSize, stride: c.stride,
                                                 normGroups: c.normGroups, empty: s.lastFreq, freq: false,
                                                 dconv: dconvDec, norm: s.norm, context: c.context, pad: true,
                                                 rewrite: c.rewrite, rows: 1, dconvComp: c.dconvComp,
                                                 dconvDepth: c.dconvDepth))
            }
        }
        self.encoder = encoder
        self.tencoder = tencoder
        self.decoder = decoder
        self.tdecoder = tdecoder
        freqEmbedding = c.freqEmb != 0 ? try store.take("freq_emb.embedding.weight", [embFreqs, embChannels]) : nil
        var tc = Int(Double(c.channels) * pow(c.growth, Double(c.depth - 1)))
        bottomChannels = c.bottomChannels
        if c.bottomChannels > 0 {
            channelUpsampler = try .load(store, "channel_upsampler", [c.bottomChannels, tc, 1])
            channelDownsampler = try .load(store, "channel_downsampler", [tc, c.bottomChannels, 1])
            channelUpsamplerT = try .load(store, "channel_upsampler_t", [c.bottomChannels, tc, 1])
            channelDownsamplerT = try .load(store, "channel_downsampler_t", [tc, c.bottomChannels, 1])
            tc = c.bottomChannels
        } else {
            channelUpsampler = nil; channelDownsampler = nil; channelUpsamplerT = nil; channelDownsamplerT = nil
        }
        transformerChannels = tc
        if c.tLayers > 0 {
            guard tc % c.tHeads == 0, tc % 4 == 0 else {
                throw SeparatorError("model arguments: transformer width \(tc) is not a multiple of t_heads \(c.tHeads) and of 4")
            }
            transformer = try CrossTransformer(store, "crosstransformer", config: c, dim: tc)
        } else {
            transformer = nil
        }
        try store.finish()
        spectrogram = Spectrogram(nfft: c.nfft)
        if c.useTrainSegment { try checkShapes(length: c.trainingLength) }
    }

    /// Follows the time axis of both branches through the encoder for an input of `length`
    /// samples and refuses a model whose branches would not meet where the time branch is
    /// injected into the frequency branch (demucs fails there with an assertion).
    func checkShapes(length: Int) throws {
        var frames = spectrogram.frames(for: length)
        var samples = length
        func convolved(_ n: Int, _ layer: EncoderLayer) -> Int {
            let padded = n % layer.stride == 0 ? n : n + layer.stride - n % layer.stride
            return (padded + 2 * layer.pad - layer.kernel) / layer.stride + 1
        }
        for (idx, enc) in encoder.enumerated() {
            if idx < tencoder.count {
                samples = convolved(samples, tencoder[idx])
                if tencoder[idx].empty && samples != frames {
                    throw SeparatorError("model arguments: at layer \(idx) the time branch has \(samples) steps and the "
                                         + "frequency branch \(frames) frames for \(length) samples; they must be equal "
                                         + "(nfft/4 must equal stride^\(idx + 1))")
                }
            }
            if !enc.freq { frames = convolved(frames, enc) }
            if frames < 1 || samples < 1 {
                throw SeparatorError("model arguments: \(length) samples are too short for \(config.depth) layers")
            }
        }
    }

    /// The forward pass of `mix [audioChannels, B, 1, L]` (each batch item on its own):
    /// `[sources * audioChannels, B, 1, L]`, channel `s * audioChannels + c`.
    func forward(_ input: Activation, trace: LayerTrace? = nil) -> Activation {
        let c = config
        var mix = input
        let length = input.t
        var lengthPrePad: Int? = nil
        var trainingLength = length
        if c.useTrainSegment {
            trainingLength = c.trainingLength
            if length < trainingLength {
                lengthPrePad = length
                let padded = input.new(c: input.c, f: 1, t: trainingLength)
                for ch in 0..<input.c {
                    for item in 0..<input.b {
                        let d = padded.at(ch, item)
                        d.update(from: input.at(ch, item), count: length)
                        (d + length).update(repeating: 0, count: trainingLength - length)
                    }
                }
                mix = padded
            }
        }
        let z = spectrogram.forward(mix)
        trace?("spec", z)
        let (mean, std) = Self.normalize(z)
        var x = z
        let xtIn = mix.copy()
        let (meanT, stdT) = Self.normalize(xtIn)
        var xt = xtIn

        var saved: [Activation] = [], savedT: [Activation] = []
        var lengths: [Int] = [], lengthsT: [Int] = []
        for (idx, enc) in encoder.enumerated() {
            lengths.append(x.t)
            var inject: Activation? = nil
            if idx < tencoder.count {
                lengthsT.append(xt.t)
                let tenc = tencoder[idx]
                xt = tenc.forward(xt, inject: nil)
                trace?("tencoder.\(idx)", xt)
                if !tenc.empty { savedT.append(xt) } else { inject = xt }
            }
            x = enc.forward(x, inject: inject)
            trace?("encoder.\(idx)", x)
            if idx == 0, let emb = freqEmbedding {
                addFrequencyEmbedding(x, emb)
            }
            saved.append(x)
        }
        if let transformer {
            if let up = channelUpsampler, let upT = channelUpsamplerT {
                x = Kernels.linear(x, weight: up.weight.data, bias: up.bias.data, outChannels: bottomChannels)
                xt = Kernels.linear(xt, weight: upT.weight.data, bias: upT.bias.data, outChannels: bottomChannels)
            } else {
                // The transformer works in place; the skip connection keeps its own copy.
                x = x.copy()
                if let last = savedT.last, last === xt { xt = xt.copy() }
            }
            transformer.forward(x, xt)
            trace?("crosstransformer.x", x)
            trace?("crosstransformer.xt", xt)
            if let down = channelDownsampler, let downT = channelDownsamplerT {
                x = Kernels.linear(x, weight: down.weight.data, bias: down.bias.data, outChannels: transformerChannelsBefore)
                xt = Kernels.linear(xt, weight: downT.weight.data, bias: downT.bias.data, outChannels: transformerChannelsBefore)
            }
        } else {
            x = x.copy()
        }

        let offset = c.depth - tdecoder.count
        for (idx, dec) in decoder.enumerated() {
            let skip = saved.removeLast()
            if dec.freq && x.c != dec.cin {
                x = Reshape.unfoldChannelsIntoFrequency(x, channels: dec.cin)
            }
            let (out, pre) = dec.forward(x, skip: skip, length: lengths.removeLast())
            x = out
            trace?("decoder.\(idx)", x)
            if idx >= offset {
                let tdec = tdecoder[idx - offset]
                let lengthT = lengthsT.removeLast()
                if tdec.empty {
                    precondition(pre.f == 1, "merged layer with more than one frequency")
                    xt = tdec.forward(pre, skip: nil, length: lengthT).z
                } else {
                    xt = tdec.forward(xt, skip: savedT.removeLast(), length: lengthT).z
                }
                trace?("tdecoder.\(idx - offset)", xt)
            }
        }

        Self.denormalize(x, mean: mean, std: std)
        let waveform = spectrogram.inverse(x, length: trainingLength)
        Self.denormalize(xt, mean: meanT, std: stdT)
        Kernels.add(waveform, xt)
        if let lengthPrePad {
            return Reshape.crop(waveform, f: 0..<1, t: 0..<lengthPrePad)
        }
        return waveform
    }

    /// Channels of the bottom of the U-Net (before any bottom_channels up-sampling).
    private var transformerChannelsBefore: Int {
        Int(Double(config.channels) * pow(config.growth, Double(config.depth - 1)))
    }

    /// `x + freq_emb_scale * freq_emb(arange(F))^T` after the first frequency layer.
    private func addFrequencyEmbedding(_ x: Activation, _ emb: Parameter) {
        let scale = Float(config.embScale), weight = Float(config.freqEmb)
        Parallel.forRanges(x.c, cost: x.columns) { channels in
            for ch in channels {
                for item in 0..<x.b {
                    let p = x.at(ch, item)
                    for f in 0..<x.f {
                        let e = weight * (emb.data[f * x.c + ch] * scale)
                        let row = p + f * x.t
                        for t in 0..<x.t { row[t] += e }
                    }
                }
            }
        }
    }

    /// `(x - mean) / (1e-5 + std)` per batch item over all channels and positions, with the
    /// unbiased standard deviation (torch.std's default), in place; returns the statistics.
    static func normalize(_ x: Activation) -> (mean: [Float], std: [Float]) {
        var means: [Float] = [], stds: [Float] = []
        let n = Double(x.c * x.plane)
        for item in 0..<x.b {
            // Vector lanes of float partial sums folded into doubles (FastMath's laneSum): the
            // plain double loop was scalar, 1.5 ms of serial time per pass.
            var sum = 0.0
            for ch in 0..<x.c { sum += laneSum(x.at(ch, item), x.plane) }
            let mean = sum / n
            var sq = 0.0
            for ch in 0..<x.c { sq += laneSumOfSquares(x.at(ch, item), x.plane, mean: Float(mean)) }
            let std = Float((sq / (n - 1)).squareRoot())
            let meanF = Float(mean)
            let denominator = Float(1e-5) + std
            for ch in 0..<x.c {
                let p = x.at(ch, item)
                for i in 0..<x.plane { p[i] = (p[i] - meanF) / denominator }
            }
            means.append(meanF)
            stds.append(std)
        }
        return (means, stds)
    }

    /// `x * std + mean` per batch item, in place.
    static func denormalize(_ x: Activation, mean: [Float], std: [Float]) {
        Parallel.forRanges(x.c, cost: x.columns) { channels in
            for ch in channels {
                for item in 0..<x.b {
                    let p = x.at(ch, item)
                    for i in 0..<x.plane { p[i] = p[i] * std[item] + mean[item] }
                }
            }
        }
    }
}
