// demucs.apply.apply_model(model, mix, shifts=0, split=..., overlap=0.25) for one HTDemucs:
// one forward pass (centre-padded to the model's segment) for inputs up to the segment, and
// for longer inputs overlapping segments with real neighbouring context, blended with
// triangular weights.

extension HTDemucs {
    /// Separates `mix [audioChannels, B, 1, L]`: `[sources * audioChannels, B, 1, L]`.
    func apply(_ mix: Activation, overlap: Double = 0.25, trace: LayerTrace? = nil) -> Activation {
        let length = mix.t
        let segment = config.trainingLength
        if length <= segment || !config.useTrainSegment && length <= segment {
            return applyChunk(mix, offset: 0, length: length, trace: trace)
        }
        // split=True
        let stride = Int((1 - overlap) * Double(segment))
        let half = segment / 2
        var weight = [Float](repeating: 0, count: segment)
        for i in 0..<half { weight[i] = Float(i + 1) }
        for i in half..<segment { weight[i] = Float(segment - i) }
        let maxWeight = weight.max() ?? 1
        for i in 0..<segment { weight[i] = weight[i] / maxWeight }
        let outChannels = config.sources.count * mix.c
        let out = mix.new(c: outChannels, f: 1, t: length)
        out.data.update(repeating: 0, count: out.count)
        var sumWeight = [Float](repeating: 0, count: length)
        var offset = 0
        while offset < length {
            let chunkLength = min(segment, length - offset)
            let chunkOut = applyChunk(mix, offset: offset, length: chunkLength, trace: offset == 0 ? trace : nil)
            for ch in 0..<outChannels {
                for item in 0..<mix.b {
                    let dst = out.at(ch, item) + offset, src = chunkOut.at(ch, item)
                    for i in 0..<chunkLength { dst[i] += weight[i] * src[i] }
                }
            }
            for i in 0..<chunkLength { sumWeight[offset + i] += weight[i] }
            offset += stride
        }
        for ch in 0..<outChannels {
            for item in 0..<mix.b {
                let p = out.at(ch, item)
                for i in 0..<length { p[i] /= sumWeight[i] }
            }
        }
        return out
    }

    /// `apply_model(model, TensorChunk(mix, offset, length), split=False)`: the chunk padded
    /// to the model's length with its real neighbours (zeros past the ends), centred, run,
    /// and centre-trimmed back to `length`.
    private func applyChunk(_ mix: Activation, offset: Int, length: Int, trace: LayerTrace?) -> Activation {
        let valid = config.useTrainSegment ? max(config.trainingLength, length) : length
        let delta = valid - length
        let start = offset - delta / 2
        let padded = mix.new(c: mix.c, f: 1, t: valid)
        for ch in 0..<mix.c {
            for item in 0..<mix.b {
                let src = mix.at(ch, item), dst = padded.at(ch, item)
                for i in 0..<valid {
                    let j = start + i
                    dst[i] = (j >= 0 && j < mix.t) ? src[j] : 0
                }
            }
        }
        let out = forward(padded, trace: trace)
        if delta == 0 { return out }
        return Reshape.crop(out, f: 0..<1, t: (delta / 2)..<(delta / 2 + length))
    }
}
