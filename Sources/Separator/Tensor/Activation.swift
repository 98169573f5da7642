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
    private let capacity: Int

    init(c: Int, b: Int, f: Int, t: Int, workspace: Workspace) {
        self.c = c
        self.b = b
        self.f = f
        self.t = t
        self.workspace = workspace
        capacity = c * b * f * t
        data = workspace.take(capacity)
    }

    deinit { workspace.give(data, capacity) }

    /// `c * b * f * t`.
    var count: Int { capacity }
    /// Floats per channel: `b * f * t` (the GEMM's column count).
    var columns: Int { b * f * t }
    /// Floats per (channel, batch item) plane: `f * t`.
    var plane: Int { f * t }

    /// Pointer to channel `channel`, batch item `item`.
    func at(_ channel: Int, _ item: Int) -> UnsafeMutablePointer<Float> {
        data + (channel * b + item) * f * t
    }

    /// The same floats seen with another `f`/`t` split (e.g. `[C, B, F, T]` as `[C, B, 1, F*T]`).
    /// Copies: reshapes are rare and small next to the convolutions.
    func reshaped(f newF: Int, t newT: Int) -> Activation {
        precondition(newF * newT == f * t)
        let out = Activation(c: c, b: b, f: newF, t: newT, workspace: workspace)
        out.data.update(from: data, count: count)
        return out
    }

    /// A new tensor of the same workspace.
    func new(c: Int, b: Int? = nil, f: Int, t: Int) -> Activation {
        Activation(c: c, b: b ?? self.b, f: f, t: t, workspace: workspace)
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
/// allocations every time, so after the first pass every request is served from the free
/// lists: no allocation, no page faults, a bounded footprint (the peak of one pass). Not
/// thread-safe: one forward pass at a time per workspace (`SourceSeparator` serializes them).
final class Workspace {
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var owned: [UnsafeMutablePointer<Float>] = []
    /// Bytes allocated so far (the footprint).
    private(set) var allocatedBytes = 0

    init() {}

    deinit {
        for p in owned { p.deallocate() }
    }

    /// A buffer of exactly `count` floats (uninitialized).
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if var list = free[n], let p = list.popLast() {
            free[n] = list
            return p
        }
        // 64-byte alignment for the SIMD kernels of OpenBLAS and FFTW.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: n)
        owned.append(p)
        allocatedBytes += n * 4
        return p
    }

    /// Returns a buffer from `take`.
    func give(_ pointer: UnsafeMutablePointer<Float>, _ count: Int) {
        free[max(count, 1), default: []].append(pointer)
    }

    /// A scratch buffer that lives for the duration of `body`.
    func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let p = take(count)
        defer { give(p, count) }
        return try body(p)
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
