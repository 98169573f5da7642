/// The bookkeeping of store-and-forward, as a pure state machine (no I/O, no clock).
///
/// Every message to the broker becomes an entry with a sequence number (its order of
/// arrival). Entries wait in one of two queues:
/// - **live**: made while the broker was connected; sent first, in order;
/// - **backlog**: made while the broker was away, restored from disk after a restart, or sent
///   on a connection that was lost before its PUBACK; sent, in order, when no live entry waits
///   (the caller may pace it: `mqtt.spool.drain_rate`). A backlog entry goes out marked
///   `replayed`.
///
/// The bridge takes the next entry when it may send (connected, fewer than `maxInFlight`
/// unacknowledged), marks it sent with the MQTT message id, and removes it when the PUBACK of
/// that id arrives. When the connection is lost, every entry (in flight, live, backlog) joins
/// the backlog in sequence order, so the backlog stays in order (a message whose PUBACK was
/// lost goes out twice: QoS 1 is at-least-once).
///
/// The total size is bounded: adding an entry that would exceed `limitBytes` drops the
/// oldest *waiting* entries first (the backlog's, then the live queue's; sent ones are about
/// to be acknowledged), and drops the new entry itself if it still does not fit. Every drop is
/// returned (the caller deletes the stored copy) and counted.
public struct SpoolState: Sendable {
    /// One message's bookkeeping.
    public struct Entry: Sendable, Equatable {
        /// Arrival order; also the name of its file on disk.
        public var sequence: UInt64
        /// Bytes it takes in the spool.
        public var bytes: Int
        /// When it was sent (caller's clock), nil while waiting.
        public var sentAt: Double?
        /// Whether it is sent from the backlog (it waited in the spool): `replayed`.
        public var replayed: Bool
    }

    /// A queue of waiting entries with cheap pops from the front.
    struct Queue: Sendable {
        private var items: [Entry] = []
        private var head = 0
        var count: Int { items.count - head }
        var isEmpty: Bool { head == items.count }
        var first: Entry? { isEmpty ? nil : items[head] }
        var entries: ArraySlice<Entry> { items[head...] }
        mutating func append(_ entry: Entry) { items.append(entry) }
        mutating func popFirst() -> Entry? {
            guard head < items.count else { return nil }
            let entry = items[head]
            head += 1
            if head > 1024, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return entry
        }
        /// Replaces the content with `entries` (in order).
        mutating func replace(with entries: [Entry]) {
            items = entries
            head = 0
        }
    }

    /// Size bound in bytes.
    public let limitBytes: Int
    private var live = Queue()
    private var backlog = Queue()
    /// Sent entries by MQTT message id.
    private var inFlight: [Int32: Entry] = [:]
    /// Bytes of all entries.
    public private(set) var totalBytes = 0
    /// Entries dropped because the spool was full, since creation.
    public private(set) var droppedCount = 0
    /// The next sequence number to give.
    public private(set) var nextSequence: UInt64 = 0

    /// An empty spool bounded to `limitBytes`.
    public init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    /// A spool resumed from stored entries (any order; sorted here), all in the backlog.
    /// Entries over the limit are dropped oldest first and returned.
    public static func restored(limitBytes: Int, entries: [(sequence: UInt64, bytes: Int)])
        -> (state: SpoolState, dropped: [UInt64])
    {
        var state = SpoolState(limitBytes: limitBytes)
        let sorted = entries.sorted { $0.sequence < $1.sequence }
        state.backlog.replace(with: sorted.map { Entry(sequence: $0.sequence, bytes: $0.bytes, sentAt: nil, replayed: true) })
        state.totalBytes = sorted.reduce(0) { $0 + $1.bytes }
        state.nextSequence = (sorted.last?.sequence).map { $0 + 1 } ?? 0
        var dropped: [UInt64] = []
        while state.totalBytes > limitBytes, let oldest = state.popOldestWaiting() {
            state.totalBytes -= oldest.bytes
            state.droppedCount += 1
            dropped.append(oldest.sequence)
        }
        return (state, dropped)
    }

    /// Number of entries (waiting and in flight).
    public var count: Int { waitingCount + inFlight.count }
    /// Entries waiting to be sent (live and backlog).
    public var waitingCount: Int { live.count + backlog.count }
    /// Entries waiting in the backlog.
    public var backlogCount: Int { backlog.count }
    /// Entries sent and not yet acknowledged.
    public var inFlightCount: Int { inFlight.count }
    /// Whether nothing is left to deliver.
    public var isEmpty: Bool { count == 0 }

    /// Reserves the next sequence number for a message of `bytes` and adds it to the live
    /// queue (`live`) or the backlog. Returns its sequence, whether it was accepted, and the
    /// sequences dropped to make room (the new one included when it does not fit even in an
    /// empty spool).
    public mutating func append(bytes: Int, live isLive: Bool = true) -> (sequence: UInt64, accepted: Bool, dropped: [UInt64]) {
        let sequence = nextSequence
        nextSequence += 1
        var dropped: [UInt64] = []
        while totalBytes + bytes > limitBytes, let oldest = popOldestWaiting() {
            totalBytes -= oldest.bytes
            droppedCount += 1
            dropped.append(oldest.sequence)
        }
        if totalBytes + bytes > limitBytes {
            droppedCount += 1
            dropped.append(sequence)
            return (sequence, false, dropped)
        }
        let entry = Entry(sequence: sequence, bytes: bytes, sentAt: nil, replayed: !isLive)
        if isLive { live.append(entry) } else { backlog.append(entry) }
        totalBytes += bytes
        return (sequence, true, dropped)
    }

    /// The entry to send next when fewer than `maxInFlight` are in flight: the oldest live
    /// one, else (when `backlogAllowed`) the oldest of the backlog.
    public func nextToSend(maxInFlight: Int, backlogAllowed: Bool = true) -> Entry? {
        guard inFlight.count < maxInFlight else { return nil }
        if let entry = live.first { return entry }
        return backlogAllowed ? backlog.first : nil
    }

    /// The entry returned by ``nextToSend(maxInFlight:backlogAllowed:)`` was published as
    /// message `mid`.
    public mutating func markSent(sequence: UInt64, mid: Int32, at time: Double) {
        guard var entry = popWaiting(sequence: sequence) else { return }
        entry.sentAt = time
        if let previous = inFlight.updateValue(entry, forKey: mid) {
            // A message id reused while still in flight cannot happen with one client; if it
            // does, the older entry waits again (in the backlog) rather than being lost.
            backlog.replace(with: Self.merged([[Entry(sequence: previous.sequence, bytes: previous.bytes,
                                                      sentAt: nil, replayed: true)], Array(backlog.entries)]))
        }
    }

    /// The PUBACK of `mid` arrived: the entry is delivered (or refused by the broker) and
    /// leaves the spool. Returns it, or nil for an id that is not ours (status, replies).
    public mutating func acknowledge(mid: Int32) -> Entry? {
        guard let entry = inFlight.removeValue(forKey: mid) else { return nil }
        totalBytes -= entry.bytes
        return entry
    }

    /// The waiting entry `sequence` (the one ``nextToSend(maxInFlight:backlogAllowed:)``
    /// gave) cannot ever be sent (unreadable, refused by the library, expired): remove it.
    /// Returns whether it was there.
    public mutating func discardWaiting(sequence: UInt64) -> Bool {
        guard let entry = popWaiting(sequence: sequence) else { return false }
        totalBytes -= entry.bytes
        return true
    }

    /// The connection is gone: every entry (unacknowledged, live, backlog) waits in the
    /// backlog, in sequence order.
    public mutating func connectionLost() {
        guard !inFlight.isEmpty || !live.isEmpty else { return }
        let sent = inFlight.values.sorted { $0.sequence < $1.sequence }
        inFlight.removeAll()
        let waiting = Array(live.entries)
        live.replace(with: [])
        let backlogged = Self.merged([sent, Array(backlog.entries), waiting]).map {
            Entry(sequence: $0.sequence, bytes: $0.bytes, sentAt: nil, replayed: true)
        }
        backlog.replace(with: backlogged)
    }

    /// When the oldest in-flight entry was sent, nil when none is in flight.
    public var oldestSentAt: Double? {
        inFlight.values.compactMap(\.sentAt).min()
    }

    /// Sequences in flight (sorted), then live, then backlog: the order of delivery when the
    /// backlog is not paced. For tests and diagnostics.
    public var sequences: [UInt64] {
        inFlight.values.map(\.sequence).sorted() + live.entries.map(\.sequence) + backlog.entries.map(\.sequence)
    }

    /// Sequences waiting in the backlog, in order.
    public var backlogSequences: [UInt64] { backlog.entries.map(\.sequence) }

    /// Removes the head of whichever queue holds `sequence` at its front.
    private mutating func popWaiting(sequence: UInt64) -> Entry? {
        if live.first?.sequence == sequence { return live.popFirst() }
        if backlog.first?.sequence == sequence { return backlog.popFirst() }
        return nil
    }

    /// The oldest waiting entry: the backlog's first (older than anything live), else the
    /// live queue's.
    private mutating func popOldestWaiting() -> Entry? {
        if let b = backlog.first, let l = live.first { return b.sequence < l.sequence ? backlog.popFirst() : live.popFirst() }
        return backlog.popFirst() ?? live.popFirst()
    }

    /// Sorted lists merged into one sorted list.
    private static func merged(_ lists: [[Entry]]) -> [Entry] {
        var out: [Entry] = []
        out.reserveCapacity(lists.reduce(0) { $0 + $1.count })
        var heads = [Int](repeating: 0, count: lists.count)
        while true {
            var best: Int? = nil
            for (index, list) in lists.enumerated() where heads[index] < list.count {
                if best == nil || list[heads[index]].sequence < lists[best!][heads[best!]].sequence { best = index }
            }
            guard let pick = best else { return out }
            out.append(lists[pick][heads[pick]])
            heads[pick] += 1
        }
    }
}
