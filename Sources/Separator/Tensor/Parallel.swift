// The separator's own threads. OpenBLAS runs single-threaded inside them: every kernel splits
// its work into tiles (blocks of output columns) and each worker runs im2col, the SGEMM and
// the epilogue (bias, GELU, GLU) of its tile while the tile is still in its core's cache.
//
// Why not OpenBLAS's threads: between two GEMMs its workers spin (sched_yield) and compete with
// the non-GEMM passes for the two cores, a GEMM split across threads repacks per call, and the
// passes between GEMMs (im2col, bias, activation) then stream whole tensors through memory.
// Measured on the 2-core machine: two single-threaded SGEMMs of one tile each (96x512x432,
// 6x512x144, 1536x256x384) reach 400, 295 and 479 GFLOPS together, where OpenBLAS's own
// 2-thread split of the same small-M products reached 55-80 GFLOPS.
import COpenBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum Parallel {
    /// Worker threads: what OpenBLAS was configured to use (OPENBLAS_NUM_THREADS, else the
    /// cores). Reading it also switches OpenBLAS itself to one thread (each GEMM then runs in
    /// the worker that calls it); `SourceSeparator.init` reads it before any GEMM.
    static let threads: Int = {
        let count = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return count
    }()

    /// Runs `body` with every `forTiles`/`forRanges` it reaches running inline on the calling
    /// thread (a worker that runs a whole forward pass on its own).
    static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// Workers the calling thread's kernels run on: 1 inside `serially`, else `threads`.
    /// Kernels size their tiles and scratch by it (a thread that runs a whole item on its own
    /// gains nothing from splitting a GEMM in two, and pays a second packing of its weights).
    static var workers: Int { isSerial ? 1 : threads }

    /// Splits `units` (rows of tiles, tiles, ...) of each of `items` into equal blocks of at
    /// most `maxPerBlock` units; when there are few blocks, their total is made a multiple of
    /// the workers so that they finish together. Returns units per block and blocks per item.
    static func equalBlocks(units: Int, items: Int, maxPerBlock: Int) -> (perBlock: Int, blocksPerItem: Int) {
        let limit = max(1, maxPerBlock), w = workers
        var blocksPerItem = (units + limit - 1) / limit
        let total = items * blocksPerItem
        if total % w != 0 && total < 8 * w {
            let wanted = (total + w - 1) / w * w
            blocksPerItem = min(units, max(1, (wanted + items - 1) / items))
        }
        let perBlock = (units + blocksPerItem - 1) / blocksPerItem
        return (perBlock, (units + perBlock - 1) / perBlock)
    }

    /// The helper threads beside the calling one (`WorkerPool`: they poll for the next kernel
    /// for a moment instead of sleeping between every two).
    private static let pool = WorkerPool(helpers: threads - 1)

    /// Runs `body(part)` for `parts` parts at once on the pool (one after the other on the
    /// calling thread when another thread's kernel holds the pool).
    private static func run(parts: Int, _ body: (Int) -> Void) {
        if !pool.run(parts: parts, body) {
            serially { for part in 0..<parts { body(part) } }
        }
    }

    /// Whether the calling thread runs its kernels serially (inside `serially`).
    private static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// The thread-specific flag of `serially`.
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Calls `body(tile, worker)` for every tile in `0..<tiles`, on up to `threads` (and
    /// `maxWorkers`) workers at once; `worker` (in `0..<threads`) names the caller's private scratch. Tiles are handed
    /// out one at a time, so a worker slowed down by the shared machine takes fewer.
    static func forTiles(_ tiles: Int, maxWorkers: Int = .max, _ body: (_ tile: Int, _ worker: Int) -> Void) {
        let workers = isSerial ? 1 : min(threads, tiles, max(1, maxWorkers))
        if workers <= 1 {
            for tile in 0..<tiles { body(tile, 0) }
            return
        }
        // Tiles write disjoint memory (or phases the caller separates), and the pool returns
        // only when every worker is done.
        let next = TileCounter()
        run(parts: workers) { worker in
            while true {
                let tile = next.take()
                if tile >= tiles { break }
                body(tile, worker)
            }
        }
    }

    /// Calls `body` on `threads` contiguous parts of `0..<count` at once (inline when the
    /// work, `count * cost` in rough float operations, is too small to pay for a hand-off).
    static func forRanges(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = isSerial ? 1 : min(threads, count)
        if parts <= 1 || count * cost < 32_768 {
            body(0..<count)
            return
        }
        // The parts touch disjoint ranges of the caller's buffers.
        run(parts: parts) { part in
            let lo = count * part / parts, hi = count * (part + 1) / parts
            if hi > lo { body(lo..<hi) }
        }
    }
}

/// The next tile to hand out.
private final class TileCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
