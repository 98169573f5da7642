// The tensor layer: activations, their memory, and the numeric kernels of HTDemucs.
//
// Layout. Every activation is stored channel-major, `[C][B][F][T]` (time-branch tensors have
// F = 1), not PyTorch's `[B][C][F][T]`. With the channel axis outermost, a convolution over a
// whole batch of channels (and, in the frequency branch, over every frequency row at once) is
// a single GEMM `W[Cout, Cin*k] x columns[Cin*k, B*F*T]`, and a linear layer of the transformer
// is `W[out, in] x X[in, tokens]`. The model layer converts to and from PyTorch's layout only
// at its edges (and in the per-layer trace used by the tests).
#if canImport(Glibc)
import Glibc
#endif

/// A float32 activation of shape `[c, b, f, t]` (channel-major, see above) whose memory comes
/// from a `Workspace` and goes back to it when the tensor dies.
final class Activation {
    /// Channels.
    let c: Int
    /// Batch items (the input's audio channels, each separated on its own).
    let b: Int
    /// Frequency rows (1 in the time branch).
    let f: Int
    /// Time steps.
    let t: Int
    /// `c * b * f * t` floats.
    let data: UnsafeMutablePointer<Float>
    private let workspace: Workspace
    /// Floats in use, `c * b * f * t`.
    let count: Int
    /// Floats of the underlying buffer (at least `count`).
    private let capacity: Int

    init(c: Int, b: Int, f: Int, t: Int, workspace: Workspace) {
        self.c = c
        self.b = b
        self.f = f
        self.t = t
        self.workspace = workspace
        count = c * b * f * t
        (data, capacity) = workspace.take(count)
    }

    deinit { workspace.give(data, capacity) }
    /// Floats per channel: `b * f * t` (the GEMM's column count).
    var columns: Int { b * f * t }
    /// Floats per (channel, batch item) plane: `f * t`.
    var plane: Int { f * t }

    /// Pointer to channel `channel`, batch item `item`.
    func at(_ channel: Int, _ item: Int) -> UnsafeMutablePointer<Float> {
        data + (channel * b + item) * f * t
    }

    /// A new tensor of the same workspace.
    func new(c: Int, b: Int? = nil, f: Int, t: Int) -> Activation {
        Activation(c: c, b: b ?? self.b, f: f, t: t, workspace: workspace)
    }

    /// A copy of this tensor (same shape and workspace).
    func copy() -> Activation {
        let out = new(c: c, f: f, t: t)
        let source = data, destination = out.data
        Parallel.forRanges(count, cost: 1) { range in
            (destination + range.lowerBound).update(from: source + range.lowerBound, count: range.count)
        }
        return out
    }

    /// Converts to PyTorch's layout `[B][C][F][T]` (tests and traces).
    func torchLayout() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            for ch in 0..<c {
                for item in 0..<b {
                    (dst.baseAddress! + (item * c + ch) * plane).update(from: at(ch, item), count: plane)
                }
            }
        }
        return out
    }
}

/// Memory for activations, allocated once per model and batch size and reused.
///
/// A forward pass of a given model on a given batch size makes the same sequence of tensor
/// requests every time, so after the first pass every request is served from the free list:
/// no allocation, no page faults, a bounded footprint. A request takes the smallest free
/// buffer that holds it and is at most four times its size (best fit), so buffers are shared by
/// tensors of different shapes and the footprint stays near the pass's peak of live
/// tensors (measured for the default model: four times 147 MB per channel, twice 173 MB). Not thread-safe: one forward pass at a time per workspace (`SourceSeparator`
/// serializes them).
final class Workspace {
    private var free: [(capacity: Int, pointer: UnsafeMutablePointer<Float>)] = []
    private var owned: [UnsafeMutablePointer<Float>] = []
    /// Bytes allocated so far (the footprint).
    private(set) var allocatedBytes = 0
    /// Bytes handed out and not yet returned, and their peak.
    private(set) var liveBytes = 0, peakLiveBytes = 0

    init() {}

    deinit {
        for p in owned { p.deallocate() }
    }

    /// A buffer of at least `count` floats (uninitialized) and its capacity.
    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let n = max(count, 1)
        var best = -1
        for (i, entry) in free.enumerated() where entry.capacity >= n && entry.capacity <= 4 * n {
            if best < 0 || entry.capacity < free[best].capacity { best = i }
        }
        if best >= 0 {
            let entry = free.remove(at: best)
            liveBytes += entry.capacity * 4
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            return (entry.pointer, entry.capacity)
        }
        // 64-byte alignment for the SIMD kernels of OpenBLAS and FFTW.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: n)
        owned.append(p)
        allocatedBytes += n * 4
        liveBytes += n * 4
        peakLiveBytes = max(peakLiveBytes, liveBytes)
        return (p, n)
    }

    /// Returns a buffer from `take` with the capacity it came with.
    func give(_ pointer: UnsafeMutablePointer<Float>, _ capacity: Int) {
        free.append((capacity, pointer))
        liveBytes -= capacity * 4
    }
}

/// A learned parameter: float32 values in PyTorch's own layout, allocated once at load time.
final class Parameter: @unchecked Sendable {
    // @unchecked: immutable after init; the buffer is only read.
    /// PyTorch shape.
    let shape: [Int]
    /// The values.
    let data: UnsafeMutablePointer<Float>
    /// Number of values.
    let count: Int

    init(shape: [Int], values: [Float]) {
        self.shape = shape
        count = values.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: count) }
        }
    }

    deinit { data.deallocate() }
}
