// Separator: HTDemucs source separation run natively (OpenBLAS SGEMM, FFTW STFT), matching
// demucs 4.1.0. Three layers: Tensor/ (numeric kernels), Model/ (the network and
// apply_model), Loading/ (model file -> validated weights). See docs/separator.md.
import Synchronization

/// Separates audio into the sources of a demucs HTDemucs model (e.g. fan, pump, valve).
///
/// Load once, call `separate` per segment: the model's weights and its activation workspace
/// are kept and reused, so memory stays bounded. Calls are serialized (one at a time); the
/// numeric work runs on `threads` threads (0: one per core): several channels one per thread,
/// a single channel tile by tile.
///
/// ```swift
/// let separator = try SourceSeparator(modelPath: "machines.safetensors")
/// let parts = try separator.separate(channels: [mic0, mic1])  // [channel][source][sample]
/// ```
public final class SourceSeparator: @unchecked Sendable {
    // @unchecked: the model is immutable after init (its classes hold raw weight buffers that
    // are only read); the workspaces, the only mutable state, live inside `workspaces`' lock.

    /// The model's source names, in output order.
    public let sources: [String]
    /// The sample rate the model expects (Hz).
    public let sampleRate: Int
    /// Samples of one forward pass (`int(segment * samplerate)`): inputs up to this length are
    /// separated in one pass, longer ones in overlapping segments.
    public let segmentLength: Int
    /// Audio channels the model takes at once (1 for the product's mono models).
    public let audioChannels: Int
    /// Most items (channels of a mono model) in flight at once: in one pass when the separator
    /// has one thread; with more, up to this many threads each run one item at a time.
    /// Activation memory grows with it: about 100 MB of live activations and a 153 MB
    /// workspace per 10-s item of the default 16 kHz model.
    public let maxBatch: Int
    /// Threads the separation runs on (the caller's and `threads - 1` helpers).
    public let threads: Int

    /// Bytes of activation memory the workspace holds (grows during the first call for a
    /// given input size and channel count, then stays: every later call reuses it).
    public var workspaceBytes: Int {
        workspaces.withLock { $0.reduce(0) { $0 + $1.allocatedBytes } }
    }

    /// The largest amount of activation memory in use at once so far (bytes).
    public var peakActivationBytes: Int {
        workspaces.withLock { $0.reduce(0) { $0 + $1.peakLiveBytes } }
    }

    private let model: HTDemucs
    /// The helper threads (shared with other separators of the same thread count).
    private let pool: WorkerPool
    private let useTrainSegment: Bool
    /// Activation memory: one workspace per thread that runs whole items (the first also
    /// serves single items and traces). Held for a whole call: calls are serialized.
    private let workspaces = Mutex([Workspace()])

    /// Loads and validates a model file in the demucs library's safetensors format; throws a
    /// `SeparatorError` naming the first thing that does not fit (class, tensor, shape).
    /// `maxBatch` bounds how many channels are in flight at once (memory); `threads` is the
    /// number of threads to separate on, 0 for one per core (the CPUs the process may use).
    public init(modelPath: String, maxBatch: Int = 4, threads: Int = 0) throws {
        guard threads >= 0 else {
            throw SeparatorError("threads must be 0 (one per core) or more, got \(threads)")
        }
        self.maxBatch = max(1, maxBatch)
        self.threads = threads == 0 ? Parallel.cores : threads
        pool = Parallel.pool(threads: self.threads)
        let contents = try ModelFileContents.read(path: modelPath)
        let config = try HTDemucsConfig.decode(metadata: contents.metadata, path: modelPath)
        model = try HTDemucs(config: config, weights: WeightStore(contents.tensors, path: modelPath))
        sources = config.sources
        sampleRate = config.samplerate
        segmentLength = config.trainingLength
        audioChannels = config.audioChannels
        useTrainSegment = config.useTrainSegment
    }

    /// Separates each channel (all of the same length, at `sampleRate`) into the model's
    /// sources: `result[channel][source]` has the channel's length. With a mono model every
    /// channel is separated on its own (batched in one pass); a model of `k` audio channels
    /// takes consecutive groups of `k` channels. As `demucs.apply.apply_model(shifts=0,
    /// split=length > segmentLength, overlap=0.25)`.
    public func separate(channels: [[Float]]) throws -> [[[Float]]] {
        guard let length = channels.first?.count else { return [] }
        guard channels.allSatisfy({ $0.count == length }) else {
            throw SeparatorError("separate: channels of different lengths")
        }
        guard length > 0 else { return channels.map { _ in sources.map { _ in [] } } }
        guard channels.count % audioChannels == 0 else {
            throw SeparatorError("separate: \(channels.count) channels for a model of \(audioChannels) audio channels")
        }
        if !useTrainSegment {
            // The model runs at the input's own length (or its chunks'): check they fit.
            var lengths: Set<Int> = [min(length, segmentLength)]
            if length > segmentLength {
                let stride = Int(0.75 * Double(segmentLength))
                for offset in Swift.stride(from: 0, to: length, by: stride) { lengths.insert(min(segmentLength, length - offset)) }
            }
            for l in lengths { try model.checkShapes(length: l) }
        }
        let items = channels.count / audioChannels
        return workspaces.withLock { workspaces in
            Parallel.using(pool) { separate(channels, items: items, length: length, workspaces: &workspaces) }
        }
    }

    /// `separate(channels:)` once the input is checked, with the workspaces held.
    private func separate(_ channels: [[Float]], items: Int, length: Int,
                          workspaces: inout [Workspace]) -> [[[Float]]] {
        var result = [[[Float]]](repeating: [], count: channels.count)
        // At most `maxBatch` items in flight: each thread that runs whole items has its own
        // workspace, so this bounds the activation memory on nodes with many cores.
        let workers = min(threads, items, maxBatch)
        if workers <= 1 {
            // One item: its kernels share the threads tile by tile.
            var first = 0
            while first < items {
                let count = min(maxBatch, items - first)
                let part = separateBatch(channels, first: first, count: count, length: length, workspace: workspaces[0])
                result.replaceSubrange((first * audioChannels)..<((first + count) * audioChannels), with: part)
                first += count
            }
            return result
        }
        // Several items: whole items per thread, each thread running its forward passes on its
        // own (no hand-offs between kernels) in its own workspace; threads take the next item
        // when done, so a thread slowed down by the shared machine takes fewer. One item per
        // pass: batching items saves nothing once the GEMMs are tiled (measured 0.582 s per
        // channel single-threaded in batches of 1, 0.591 s in batches of 4) and costs memory.
        while workspaces.count < workers { workspaces.append(Workspace()) }
        let spaces = workspaces
        result.withUnsafeMutableBufferPointer { slots in
            let output = UncheckedSlots(slots)
            Parallel.forTiles(items, maxWorkers: workers) { item, worker in
                let part = Parallel.serially {
                    separateBatch(channels, first: item, count: 1, length: length, workspace: spaces[worker])
                }
                for (i, channel) in part.enumerated() { output.slots[item * audioChannels + i] = channel }
            }
        }
        return result
    }

    /// Runs items `first ..< first + count` through the model in one batch: their channels'
    /// sources, `[item * audioChannels + ac][source][sample]` counted from `first`.
    private func separateBatch(_ channels: [[Float]], first: Int, count: Int, length: Int,
                               workspace: Workspace) -> [[[Float]]] {
        let mix = Activation(c: audioChannels, b: count, f: 1, t: length, workspace: workspace)
        for item in 0..<count {
            for ac in 0..<audioChannels {
                channels[(first + item) * audioChannels + ac].withUnsafeBufferPointer {
                    mix.at(ac, item).update(from: $0.baseAddress!, count: length)
                }
            }
        }
        let out = model.apply(mix)
        return (0..<count * audioChannels).map { index in
            let item = index / audioChannels, ac = index % audioChannels
            return (0..<sources.count).map { s in
                Array(UnsafeBufferPointer(start: out.at(s * audioChannels + ac, item), count: length))
            }
        }
    }

    /// Per-layer outputs of one forward pass over the first segment, in PyTorch layout (for
    /// the parity tests' per-layer path).
    func traceLayers(channels: [[Float]]) -> [(name: String, shape: [Int], values: [Float])] {
        let length = channels[0].count
        return workspaces.withLock { workspaces in Parallel.using(pool) {
            let mix = Activation(c: audioChannels, b: channels.count / audioChannels, f: 1, t: length,
                                 workspace: workspaces[0])
            for (index, channel) in channels.enumerated() {
                channel.withUnsafeBufferPointer {
                    mix.at(index % audioChannels, index / audioChannels).update(from: $0.baseAddress!, count: length)
                }
            }
            var traced: [(String, [Int], [Float])] = []
            _ = model.apply(mix) { name, t in
                traced.append((name, [t.b, t.c, t.f, t.t], t.torchLayout()))
            }
            return traced
        } }
    }
}

/// Result slots written by concurrent workers, each at its own indices.
private struct UncheckedSlots: @unchecked Sendable {
    // @unchecked: every worker writes disjoint slots, and the caller reads them only after
    // Parallel.forTiles has returned.
    let slots: UnsafeMutableBufferPointer<[[Float]]>
    init(_ slots: UnsafeMutableBufferPointer<[[Float]]>) { self.slots = slots }
}
