// Decoding the `klass`/`args`/`kwargs` metadata of a demucs model file into HTDemucsConfig,
// refusing configurations this engine does not run with a one-line reason.
import Foundation

/// HTDemucs's positional parameters, in the constructor's order (for a non-empty `args`).
private let positionalNames = [
    "sources", "audio_channels", "channels", "channels_time", "growth", "nfft", "wiener_iters",
    "end_iters", "wiener_residual", "cac", "depth", "rewrite", "multi_freqs", "multi_freqs_depth",
    "freq_emb", "emb_scale", "emb_smooth", "kernel_size", "time_stride", "stride", "context",
    "context_enc", "norm_starts", "norm_groups", "dconv_mode", "dconv_depth", "dconv_comp",
    "dconv_init", "bottom_channels", "t_layers", "t_emb", "t_hidden_scale", "t_heads",
    "t_dropout", "t_max_positions", "t_norm_in", "t_norm_in_group", "t_group_norm",
    "t_norm_first", "t_norm_out", "t_max_period", "t_weight_decay", "t_lr", "t_layer_scale",
    "t_gelu", "t_weight_pos_embed", "t_sin_random_shift", "t_cape_mean_normalize",
    "t_cape_augment", "t_cape_glob_loc_scale", "t_sparse_self_attn", "t_sparse_cross_attn",
    "t_mask_type", "t_mask_random_seed", "t_sparse_attn_window", "t_global_window",
    "t_sparsity", "t_auto_sparsity", "t_cross_first", "rescale", "samplerate", "segment",
    "use_train_segment",
]

extension HTDemucsConfig {
    /// Decodes the metadata of a model file (docs/contract.md, "The model file").
    static func decode(metadata: [String: String], path: String) throws -> HTDemucsConfig {
        func bad(_ why: String) -> SeparatorError { SeparatorError("model file \(path): \(why)") }
        guard let klass = metadata["klass"] else { throw bad("no klass in metadata (not a demucs model file)") }
        guard klass == "demucs.htdemucs.HTDemucs" else {
            throw bad("model class \(klass) is not demucs.htdemucs.HTDemucs")
        }
        if metadata["structure"] != nil { throw bad("quantized (diffq) model states are not supported") }
        func json(_ key: String) throws -> Any {
            guard let text = metadata[key] else { throw bad("no \(key) in metadata") }
            guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
                throw bad("metadata \(key) is not JSON")
            }
            return value
        }
        guard let args = try json("args") as? [Any] else { throw bad("metadata args is not a JSON list") }
        guard var kwargs = try json("kwargs") as? [String: Any] else { throw bad("metadata kwargs is not a JSON object") }
        guard args.count <= positionalNames.count else { throw bad("too many positional args (\(args.count))") }
        for (i, value) in args.enumerated() {
            if kwargs[positionalNames[i]] != nil { throw bad("argument \(positionalNames[i]) given twice") }
            kwargs[positionalNames[i]] = value
        }
        return try HTDemucsConfig(kwargs: kwargs, bad: bad)
    }

    private init(kwargs: [String: Any], bad: (String) -> SeparatorError) throws {
        self.init()
        func isNull(_ v: Any?) -> Bool { v == nil || v is NSNull }
        func number(_ key: String) throws -> Double? {
            guard let v = kwargs[key], !(v is NSNull) else { return nil }
            if v is String { throw bad("argument \(key) is not a number") }
            if let n = v as? NSNumber { return n.doubleValue }
            if let b = v as? Bool { return b ? 1 : 0 }
            throw bad("argument \(key) is not a number")
        }
        func int(_ key: String, _ into: inout Int) throws {
            guard let d = try number(key) else { return }
            guard d == d.rounded(), abs(d) < 1e9 else { throw bad("argument \(key) = \(d) is not an integer") }
            into = Int(d)
        }
        func real(_ key: String, _ into: inout Double) throws {
            if let d = try number(key) { into = d }
        }
        // Python truthiness of a number/bool argument.
        func flag(_ key: String, _ into: inout Bool) throws {
            if let v = kwargs[key], isNull(v) { into = false; return }
            if let d = try number(key) { into = d != 0 }
        }
        guard let sources = kwargs["sources"] as? [String], !sources.isEmpty else {
            throw bad("argument sources is missing or not a list of names")
        }
        self.sources = sources
        try int("audio_channels", &audioChannels)
        try int("channels", &channels)
        if let v = try number("channels_time"), v != 0 { channelsTime = Int(v) }
        try real("growth", &growth)
        try int("nfft", &nfft)
        try flag("cac", &cac)
        try int("depth", &depth)
        try flag("rewrite", &rewrite)
        try real("freq_emb", &freqEmb)
        try real("emb_scale", &embScale)
        try int("kernel_size", &kernelSize)
        try int("time_stride", &timeStride)
        try int("stride", &stride)
        try int("context", &context)
        try int("context_enc", &contextEnc)
        try int("norm_starts", &normStarts)
        try int("norm_groups", &normGroups)
        try int("dconv_mode", &dconvMode)
        try int("dconv_depth", &dconvDepth)
        try real("dconv_comp", &dconvComp)
        try int("bottom_channels", &bottomChannels)
        try int("t_layers", &tLayers)
        if let e = kwargs["t_emb"] {
            guard let s = e as? String else { throw bad("argument t_emb is not a string") }
            tEmb = s
        }
        try real("t_hidden_scale", &tHiddenScale)
        try int("t_heads", &tHeads)
        try flag("t_norm_in", &tNormIn)
        var b = false
        try flag("t_norm_in_group", &b); tNormInGroup = b ? Int(try number("t_norm_in_group") ?? 1) : 0
        b = false
        try flag("t_group_norm", &b); tGroupNorm = b ? Int(try number("t_group_norm") ?? 1) : 0
        try flag("t_norm_first", &tNormFirst)
        try flag("t_norm_out", &tNormOut)
        try real("t_max_period", &tMaxPeriod)
        try flag("t_layer_scale", &tLayerScale)
        try flag("t_gelu", &tGelu)
        try real("t_weight_pos_embed", &tWeightPosEmbed)
        try flag("t_cape_mean_normalize", &tCapeMeanNormalize)
        try flag("t_cross_first", &tCrossFirst)
        try int("t_max_positions", &tMaxPositions)
        try int("samplerate", &samplerate)
        try flag("use_train_segment", &useTrainSegment)
        if let s = kwargs["segment"], !isNull(s) {
            if let d = s as? [String: Any] {
                guard d["_type"] as? String == "fraction", let n = d["numerator"] as? Int,
                      let den = d["denominator"] as? Int, den > 0 else {
                    throw bad("argument segment is not a number or a fraction")
                }
                segment = .fraction(n, den)
            } else if let d = try number("segment") {
                segment = d == d.rounded() ? .fraction(Int(d), 1) : .real(d)
            }
        }

        // What this engine does not run (inference paths demucs itself rarely uses).
        var w = 0.0
        try real("wiener_iters", &w)
        if !cac { throw bad("cac=False (masking/Wiener output) is not supported; train with cac=True") }
        if let m = kwargs["multi_freqs"], !isNull(m), !((m as? [Any])?.isEmpty ?? false) {
            throw bad("multi_freqs (MultiWrap layers) is not supported")
        }
        var flagValue = false
        for key in ["t_sparse_self_attn", "t_sparse_cross_attn"] {
            flagValue = false
            try flag(key, &flagValue)
            if flagValue { throw bad("\(key)=True (sparse attention) is not supported") }
        }
        var shift = 0
        try int("t_sin_random_shift", &shift)
        if shift != 0 { throw bad("t_sin_random_shift=\(shift) makes inference random; not supported") }
        guard ["sin", "cape", "scaled"].contains(tEmb) else { throw bad("t_emb \(tEmb) is not sin, cape or scaled") }
        guard audioChannels >= 1, channels >= 1, depth >= 1, nfft >= 4, nfft % 4 == 0,
              kernelSize >= 1, stride >= 1, timeStride >= 1, samplerate >= 1, normGroups >= 1 else {
            throw bad("impossible model arguments (channels, depth, nfft, kernel_size, stride, samplerate)")
        }
        guard trainingLength >= 1 else { throw bad("segment of less than one sample") }
        guard [0, 1, 2, 3].contains(dconvMode) else { throw bad("dconv_mode \(dconvMode) is not 0-3") }
    }
}
