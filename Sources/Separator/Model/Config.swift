// The constructor arguments of `demucs.htdemucs.HTDemucs` (demucs 4.1.0), with its defaults.

/// A rational or real segment length in seconds (`Fraction` in demucs).
enum SegmentLength: Equatable {
    case fraction(Int, Int)
    case real(Double)

    /// `int(segment * samplerate)` as Python computes it.
    func samples(at samplerate: Int) -> Int {
        switch self {
        case .fraction(let n, let d): return (n * samplerate) / d  // both positive: floor = trunc
        case .real(let s): return Int(s * Double(samplerate))
        }
    }
}

/// Hyperparameters of an HTDemucs model; field names follow the constructor's arguments.
struct HTDemucsConfig {
    var sources: [String] = []
    var audioChannels = 2
    var channels = 48
    var channelsTime: Int? = nil
    var growth: Double = 2
    var nfft = 4096
    var cac = true
    var depth = 4
    var rewrite = true
    var freqEmb: Double = 0.2
    var embScale: Double = 10
    var kernelSize = 8
    var timeStride = 2
    var stride = 4
    var context = 1
    var contextEnc = 0
    var normStarts = 4
    var normGroups = 4
    var dconvMode = 1
    var dconvDepth = 2
    var dconvComp: Double = 8
    var bottomChannels = 0
    var tLayers = 5
    var tEmb = "sin"
    var tHiddenScale: Double = 4
    var tHeads = 8
    var tNormIn = true
    var tNormInGroup = 0
    var tGroupNorm = 0
    var tNormFirst = true
    var tNormOut = true
    var tMaxPeriod: Double = 10000
    var tLayerScale = true
    var tGelu = true
    var tWeightPosEmbed: Double = 1
    var tCapeMeanNormalize = true
    var tCrossFirst = false
    var tMaxPositions = 10000
    var samplerate = 44100
    var segment: SegmentLength = .fraction(10, 1)
    var useTrainSegment = true

    /// Samples of one forward pass (`int(segment * samplerate)`).
    var trainingLength: Int { segment.samples(at: samplerate) }
}
