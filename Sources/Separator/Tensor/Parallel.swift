// Splitting the non-GEMM kernels (norms, activations, softmax, im2col/col2im) over as many
// threads as OpenBLAS uses: between two GEMMs OpenBLAS's own workers only spin, so without
// this one core idles through a third of the run.
import COpenBLAS
import Dispatch

enum Parallel {
    /// Threads to use: OpenBLAS's (OPENBLAS_NUM_THREADS, else the cores).
    static let threads: Int = max(1, Int(openblas_get_num_threads()))

    /// Calls `body` on `threads` contiguous parts of `0..<count` at once (inline when the
    /// work, `count * cost` in rough float operations, is too small to pay for a hand-off).
    static func forRanges(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, count)
        if parts <= 1 || count * cost < 32_768 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // The parts touch disjoint ranges of the caller's buffers, and concurrentPerform
            // returns only when all are done: sharing the closure is safe.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let lo = count * part / parts, hi = count * (part + 1) / parts
                if hi > lo { shared.value(lo..<hi) }
            }
        }
    }
}

/// A value handed to concurrent parts that only read it or write disjoint memory.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
