// The separator's own threads. OpenBLAS runs single-threaded inside them: every kernel splits
// its work into tiles (blocks of output columns) and each worker runs im2col, the SGEMM and
// the epilogue (bias, GELU, GLU) of its tile while the tile is still in its core's cache.
//
// Why not OpenBLAS's threads: between two GEMMs its workers spin (sched_yield) and compete with
// the non-GEMM passes for the two cores, a GEMM split across threads repacks per call, and the
// passes between GEMMs (im2col, bias, activation) then stream whole tensors through memory.
// The thread count is the separator's own (`SourceSeparator(threads:)`): its calls run their
// kernels inside `Parallel.using(pool)`, a pool per thread count shared by the process.
//
// Measured on the 2-core machine: two single-threaded SGEMMs of one tile each (96x512x432,
// 6x512x144, 1536x256x384) reach 400, 295 and 479 GFLOPS together, where OpenBLAS's own
// 2-thread split of the same small-M products reached 55-80 GFLOPS.
import CCPUInfo
import COpenBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum Parallel {
    /// The threads of "one per core": the CPUs this process may run on (its affinity mask,
    /// which taskset and cgroup cpusets narrow).
    static let cores = Int(ae_cpu_count())

    /// The worker pool for `threads` threads (the caller and `threads - 1` helpers), made on
    /// first use and kept for the process (its helpers sleep when idle): separators with the
    /// same thread count share one.
    static func pool(threads: Int) -> WorkerPool {
        pools.withLock { pools in
            if let known = pools[threads] { return known }
            let made = WorkerPool(helpers: max(0, threads - 1))
            pools[threads] = made
            return made
        }
    }

    /// Runs `body` with the calling thread's kernels split over `pool`'s threads (each of
    /// `forTiles`/`forRanges` then runs on up to `pool.helpers + 1` workers).
    static func using<R>(_ pool: WorkerPool, _ body: () throws -> R) rethrows -> R {
        _ = blasSingleThreaded
        let previous = pthread_getspecific(poolKey)
        pthread_setspecific(poolKey, Unmanaged.passUnretained(pool).toOpaque())
        defer { pthread_setspecific(poolKey, previous) }
        return try withExtendedLifetime(pool) { try body() }
    }

    /// Runs `body` with every `forTiles`/`forRanges` it reaches running inline on the calling
    /// thread (a worker that runs a whole forward pass on its own). Kernels outside `using`
    /// run so too.
    static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(poolKey)
        pthread_setspecific(poolKey, nil)
        defer { pthread_setspecific(poolKey, previous) }
        return try body()
    }

    /// Workers the calling thread's kernels run on: its pool's threads inside `using`, else 1.
    /// Kernels size their tiles and scratch by it (a thread that runs a whole item on its own
    /// gains nothing from splitting a GEMM in two, and pays a second packing of its weights).
    static var workers: Int { currentPool.map { $0.helpers + 1 } ?? 1 }

    /// OpenBLAS runs single-threaded: each GEMM runs in the worker that calls it (see above).
    /// Process-wide; the separator is the only BLAS user of the product.
    private static let blasSingleThreaded: Void = openblas_set_num_threads(1)

    /// The pools made so far, by thread count.
    private static let pools = Mutex<[Int: WorkerPool]>([:])

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

    /// Runs `body(part)` for `parts` parts at once on `pool` (one after the other on the
    /// calling thread when another thread's kernel holds the pool).
    private static func run(_ pool: WorkerPool, parts: Int, _ body: (Int) -> Void) {
        if !pool.run(parts: parts, body) {
            serially { for part in 0..<parts { body(part) } }
        }
    }

    /// The calling thread's pool (set by `using`), nil when its kernels run serially.
    private static var currentPool: WorkerPool? {
        pthread_getspecific(poolKey).map { Unmanaged<WorkerPool>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The thread-specific pool of `using` (unretained: `using` keeps it alive).
    private static let poolKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Calls `body(tile, worker)` for every tile in `0..<tiles`, on up to `workers` (and
    /// `maxWorkers`) workers at once; `worker` (in `0..<workers`) names the caller's private
    /// scratch. Tiles are handed out one at a time, so a worker slowed down by the shared
    /// machine takes fewer.
    static func forTiles(_ tiles: Int, maxWorkers: Int = .max, _ body: (_ tile: Int, _ worker: Int) -> Void) {
        guard let pool = currentPool else {
            for tile in 0..<tiles { body(tile, 0) }
            return
        }
        let workers = min(pool.helpers + 1, tiles, max(1, maxWorkers))
        if workers <= 1 {
            for tile in 0..<tiles { body(tile, 0) }
            return
        }
        // Tiles write disjoint memory (or phases the caller separates), and the pool returns
        // only when every worker is done.
        let next = TileCounter()
        run(pool, parts: workers) { worker in
            while true {
                let tile = next.take()
                if tile >= tiles { break }
                body(tile, worker)
            }
        }
    }

    /// Calls `body` on `workers` contiguous parts of `0..<count` at once (inline when the
    /// work, `count * cost` in rough float operations, is too small to pay for a hand-off).
    static func forRanges(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        let pool = currentPool
        let parts = min(pool.map { $0.helpers + 1 } ?? 1, count)
        guard let pool, parts > 1, count * cost >= 32_768 else {
            body(0..<count)
            return
        }
        // The parts touch disjoint ranges of the caller's buffers.
        run(pool, parts: parts) { part in
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
