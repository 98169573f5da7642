// The separator's helper threads. One forward pass of one channel hands about 250 kernels to
// the workers, one every ~1 ms, and waits for each to finish. DispatchQueue.concurrentPerform
// parks its pool threads between calls, and waking a parked thread costs 30-60 us on this
// virtual machine (a futex wake and an inter-processor interrupt): about 4 % of a pass measured
// as workers idling at the start of each kernel. Here a helper that has just finished a job
// keeps polling for the next one for a short while (`spinNanoseconds`) before it sleeps on a
// condition variable, so back-to-back kernels hand over in well under a microsecond, and a
// helper costs nothing once the passes stop.
//
// Written by hand: libdispatch and Foundation offer no spinning pool, and swift-nio's
// NIOThreadPool hands work over through a lock and a condition variable per item (the wake-up
// this file exists to avoid).
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `threads - 1` helper threads that run parts of a job beside the calling thread. One pool
/// lives for the process (`Parallel`'s); its threads are detached and end with it.
///
/// `@unchecked Sendable`: the job closure and its part count are written only by the thread
/// that holds `busy` before it publishes a new `generation` (release) and read by helpers after
/// they observe that generation (acquire); the caller returns only after every helper has
/// counted itself out of `running` (release/acquire), so the closure never outlives its call.
/// The sleep/wake hand-shakes (helpers waiting for a job, the caller for the helpers) run
/// under `mutex`.
final class WorkerPool: @unchecked Sendable {
    /// How long a helper polls for the next job before it sleeps, and the caller for the
    /// helpers to finish before it sleeps (a pass's kernels follow each other within this; a
    /// pass's end, or a long part such as a whole channel, is followed by sleep, not spinning).
    private static let spinNanoseconds: UInt64 = 2_000_000

    /// Helpers (worker indices 1 ..< helpers + 1; the caller is worker 0).
    let helpers: Int
    /// Bumped once per job; helpers run a job when they see it change.
    private let generation = Atomic<UInt64>(0)
    /// Helpers still running the current job.
    private let running = Atomic<Int>(0)
    /// Whether a caller owns the pool (a second caller, e.g. another separator on another
    /// thread, runs its job inline instead of waiting).
    private let busy = Atomic<Bool>(false)
    /// Helpers asleep on `wake` (the caller signals only when there are some).
    private let sleepers = Atomic<Int>(0)
    /// Whether the caller sleeps on `done` (the last helper to finish signals it then).
    private let callerAsleep = Atomic<Bool>(false)
    /// Allocated once and never moved (a pthread mutex or condition must keep its address).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private let wake: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
    private let done: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
    /// The current job: `parts` parts, part `p` run as `job(p)`.
    private var job: ((Int) -> Void)?
    private var parts = 0

    init(helpers: Int) {
        self.helpers = helpers
        check(pthread_mutex_init(mutex, nil), "pthread_mutex_init")
        check(pthread_cond_init(wake, nil), "pthread_cond_init")
        check(pthread_cond_init(done, nil), "pthread_cond_init")
        for index in 0..<helpers {
            let unmanaged = Unmanaged.passRetained(HelperStart(pool: self, worker: index + 1))
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { argument in
                let start = Unmanaged<HelperStart>.fromOpaque(argument!).takeRetainedValue()
                start.pool.helperLoop(worker: start.worker)
                return nil
            }, unmanaged.toOpaque())
            check(status, "pthread_create (a separator worker thread)")
            check(pthread_detach(thread), "pthread_detach")
        }
    }

    /// Runs `body(part)` for every part in `0..<parts` (at most `helpers + 1`), part 0 on the
    /// calling thread, and returns when all are done. Returns false without running anything
    /// when another caller owns the pool.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        precondition(parts <= helpers + 1)
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            job = body
            self.parts = parts
            running.store(helpers, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
                check(pthread_cond_broadcast(wake), "pthread_cond_broadcast")
                check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
            }
            body(0)
            let start = Self.now()
            var polls = 0
            while running.load(ordering: .acquiring) > 0 {
                polls += 1
                if polls & 1023 == 0 {
                    if Self.now() - start > Self.spinNanoseconds {
                        waitForHelpers()
                        break
                    }
                    sched_yield()  // a helper preempted on this core runs
                }
            }
            job = nil
        }
        return true
    }

    /// A helper: waits for each new generation (polling, then asleep) and runs its part.
    private func helperLoop(worker: Int) {
        var seen: UInt64 = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let start = Self.now()
                var polls = 0
                while current == seen {
                    polls += 1
                    if polls & 1023 == 0 {
                        if Self.now() - start > Self.spinNanoseconds {
                            current = sleep(seen: seen)
                            break
                        }
                        sched_yield()  // the caller, if it shares this core, goes on
                    }
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            if worker < parts, let job { job(worker) }
            if running.subtract(1, ordering: .sequentiallyConsistent).newValue == 0
                && callerAsleep.load(ordering: .sequentiallyConsistent) {
                check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
                check(pthread_cond_signal(done), "pthread_cond_signal")
                check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
            }
        }
    }

    /// The caller's sleep until every helper has finished the current job.
    private func waitForHelpers() {
        check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        callerAsleep.store(true, ordering: .sequentiallyConsistent)
        while running.load(ordering: .sequentiallyConsistent) > 0 {
            check(pthread_cond_wait(done, mutex), "pthread_cond_wait")
        }
        callerAsleep.store(false, ordering: .sequentiallyConsistent)
        check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
    }

    /// Sleeps until the generation moves on from `seen`; returns the new one.
    private func sleep(seen: UInt64) -> UInt64 {
        check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        sleepers.add(1, ordering: .sequentiallyConsistent)
        var current = generation.load(ordering: .sequentiallyConsistent)
        while current == seen {
            check(pthread_cond_wait(wake, mutex), "pthread_cond_wait")
            current = generation.load(ordering: .sequentiallyConsistent)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
        return current
    }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// Stops the process on a failed pthread call: the pool cannot run (or hand work back) without
/// its threads, mutex and conditions, and every failure here is a programming or resource
/// error (EINVAL, EAGAIN at thread creation), not a condition to recover from.
private func check(_ status: Int32, _ call: StaticString) {
    precondition(status == 0, "separator worker pool: \(call) failed (error \(status))")
}

/// What a new helper thread needs.
private final class HelperStart {
    let pool: WorkerPool
    let worker: Int
    init(pool: WorkerPool, worker: Int) {
        self.pool = pool
        self.worker = worker
    }
}
