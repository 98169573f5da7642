import Dispatch
import Synchronization

/// The hand-over between the capture thread and the delivery thread: a fixed pool of segment
/// buffers ("slots"), a FIFO of filled slots and a list of free ones.
///
/// Every buffer is allocated once, at start. The capture thread fills a slot, publishes it and
/// takes a free one; when there is none (the delivery thread is behind), it overwrites the slot
/// it just filled (that segment is dropped) instead of waiting. The lock guards two index
/// rings and is held for a handful of instructions on either side, so the capture thread is
/// never held up for longer than that.
final class SegmentExchange: @unchecked Sendable {
    // @unchecked: `storage` is a raw allocation. Each slot's memory belongs to whoever holds
    // its index: the capture thread while filling, the delivery thread between takeReady()
    // and release(); the index moves between them only under `state`'s lock, which orders the
    // writes before the reads.

    /// Facts of a filled slot.
    struct Meta {
        var index = 0
        var firstSample: Int64 = 0
        var startTime = 0.0
        var overrun = false
    }

    /// A fixed-capacity FIFO of slot indices (never allocates after init).
    struct IndexRing {
        private var items: [Int]
        private var head = 0
        private(set) var count = 0
        init(capacity: Int) { items = [Int](repeating: 0, count: capacity) }
        mutating func push(_ v: Int) {
            items[(head + count) % items.count] = v
            count += 1
        }
        mutating func pop() -> Int? {
            guard count > 0 else { return nil }
            let v = items[head]
            head = (head + 1) % items.count
            count -= 1
            return v
        }
    }

    struct State {
        var free: IndexRing
        var ready: IndexRing
        var meta: [Meta]
    }

    let slotCount: Int
    let channels: Int
    let frames: Int
    private let storage: UnsafeMutablePointer<Float>
    private let state: Mutex<State>
    /// Signalled once per published slot.
    let readySignal = DispatchSemaphore(value: 0)

    init(slotCount: Int, channels: Int, frames: Int) {
        self.slotCount = slotCount
        self.channels = channels
        self.frames = frames
        storage = .allocate(capacity: slotCount * channels * frames)
        storage.initialize(repeating: 0, count: slotCount * channels * frames)
        var free = IndexRing(capacity: slotCount)
        for i in 0..<slotCount { free.push(i) }
        state = Mutex(State(free: free, ready: IndexRing(capacity: slotCount),
                            meta: [Meta](repeating: Meta(), count: slotCount)))
    }

    deinit { storage.deallocate() }

    /// Planar samples of a slot: channel `c` at `+ c * frames`.
    func samples(of slot: Int) -> UnsafeMutablePointer<Float> {
        storage + slot * channels * frames
    }

    /// A free slot, or nil when all are filled or being delivered.
    func acquireFree() -> Int? {
        state.withLock { $0.free.pop() }
    }

    /// Hands a filled slot to the delivery thread.
    func publish(_ slot: Int, _ meta: Meta) {
        state.withLock {
            $0.meta[slot] = meta
            $0.ready.push(slot)
        }
        readySignal.signal()
    }

    /// Filled slots waiting for the consumer.
    var readyCount: Int { state.withLock { $0.ready.count } }

    /// The oldest filled slot and its facts, if any.
    func takeReady() -> (slot: Int, meta: Meta)? {
        state.withLock { s in
            guard let slot = s.ready.pop() else { return nil }
            return (slot, s.meta[slot])
        }
    }

    /// Gives a delivered slot back to the capture thread.
    func release(_ slot: Int) {
        state.withLock { $0.free.push(slot) }
    }
}
