/// The bookkeeping of store-and-forward, as a pure state machine (no I/O, no clock).
///
/// Every message to the broker becomes an entry with a sequence number (its order of
/// arrival). Entries wait in order; the bridge takes the oldest waiting one when it may
/// send (connected, fewer than `maxInFlight` unacknowledged), marks it sent with the MQTT
/// message id, and removes it when the PUBACK of that id arrives. When the connection is
/// lost, every sent-but-unacknowledged entry waits again, ahead of the rest, so the order is
/// kept (a message whose PUBACK was lost goes out twice: QoS 1 is at-least-once).
///
/// The total size is bounded: adding an entry that would exceed `limitBytes` drops the
/// oldest *waiting* entries first (sent ones are about to be acknowledged), and drops the
/// new entry itself if it still does not fit. Every drop is returned (the caller deletes
/// the stored copy) and counted.
public struct SpoolState: Sendable {
    /// One message's bookkeeping.
    public struct Entry: Sendable, Equatable {
        /// Arrival order; also the name of its file on disk.
        public var sequence: UInt64
        /// Bytes it takes in the spool.
        public var bytes: Int
        /// When it was sent (caller's clock), nil while waiting.
        public var sentAt: Double?
    }

    /// Size bound in bytes.
    public let limitBytes: Int
    /// Waiting entries in order; `waiting[waitingHead...]` are live (cheap pops from the front).
    private var waiting: [Entry] = []
    private var waitingHead = 0
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

    /// A spool resumed from stored entries (any order; sorted here). Entries over the limit
    /// are dropped oldest first and returned.
    public static func restored(limitBytes: Int, entries: [(sequence: UInt64, bytes: Int)])
        -> (state: SpoolState, dropped: [UInt64])
    {
        var state = SpoolState(limitBytes: limitBytes)
        let sorted = entries.sorted { $0.sequence < $1.sequence }
        state.waiting = sorted.map { Entry(sequence: $0.sequence, bytes: $0.bytes, sentAt: nil) }
        state.totalBytes = sorted.reduce(0) { $0 + $1.bytes }
        state.nextSequence = (sorted.last?.sequence).map { $0 + 1 } ?? 0
        var dropped: [UInt64] = []
        while state.totalBytes > limitBytes, let oldest = state.popWaiting() {
            state.totalBytes -= oldest.bytes
            state.droppedCount += 1
            dropped.append(oldest.sequence)
        }
        return (state, dropped)
    }

    /// Number of entries (waiting and in flight).
    public var count: Int { waitingCount + inFlight.count }
    /// Entries waiting to be sent.
    public var waitingCount: Int { waiting.count - waitingHead }
    /// Entries sent and not yet acknowledged.
    public var inFlightCount: Int { inFlight.count }
    /// Whether nothing is left to deliver.
    public var isEmpty: Bool { count == 0 }

    /// Reserves the next sequence number for a message of `bytes` and adds it. Returns its
    /// sequence, whether it was accepted, and the sequences dropped to make room (the new
    /// one included when it does not fit even in an empty spool).
    public mutating func append(bytes: Int) -> (sequence: UInt64, accepted: Bool, dropped: [UInt64]) {
        let sequence = nextSequence
        nextSequence += 1
        var dropped: [UInt64] = []
        while totalBytes + bytes > limitBytes, let oldest = popWaiting() {
            totalBytes -= oldest.bytes
            droppedCount += 1
            dropped.append(oldest.sequence)
        }
        if totalBytes + bytes > limitBytes {
            droppedCount += 1
            dropped.append(sequence)
            return (sequence, false, dropped)
        }
        waiting.append(Entry(sequence: sequence, bytes: bytes, sentAt: nil))
        totalBytes += bytes
        return (sequence, true, dropped)
    }

    /// The oldest waiting entry, when fewer than `maxInFlight` are in flight.
    public func nextToSend(maxInFlight: Int) -> Entry? {
        guard inFlight.count < maxInFlight, waitingHead < waiting.count else { return nil }
        return waiting[waitingHead]
    }

    /// The entry returned by ``nextToSend(maxInFlight:)`` was published as message `mid`.
    public mutating func markSent(sequence: UInt64, mid: Int32, at time: Double) {
        guard waitingHead < waiting.count, waiting[waitingHead].sequence == sequence,
              var entry = popWaiting() else { return }
        entry.sentAt = time
        if let previous = inFlight.updateValue(entry, forKey: mid) {
            // A message id reused while still in flight cannot happen with one client; if it
            // does, the older entry waits again rather than being lost.
            requeueFront([previous])
        }
    }

    /// The PUBACK of `mid` arrived: the entry is delivered (or refused by the broker) and
    /// leaves the spool. Returns it, or nil for an id that is not ours (status, replies).
    public mutating func acknowledge(mid: Int32) -> Entry? {
        guard let entry = inFlight.removeValue(forKey: mid) else { return nil }
        totalBytes -= entry.bytes
        return entry
    }

    /// The waiting entry `sequence` cannot ever be sent (unreadable, refused by the library):
    /// remove it. Returns whether it was there.
    public mutating func discardWaiting(sequence: UInt64) -> Bool {
        guard waitingHead < waiting.count, waiting[waitingHead].sequence == sequence,
              let entry = popWaiting() else { return false }
        totalBytes -= entry.bytes
        return true
    }

    /// The connection is gone: every unacknowledged entry waits again, in order, ahead of
    /// the others.
    public mutating func connectionLost() {
        guard !inFlight.isEmpty else { return }
        let sent = inFlight.values.sorted { $0.sequence < $1.sequence }
        inFlight.removeAll()
        requeueFront(sent.map { Entry(sequence: $0.sequence, bytes: $0.bytes, sentAt: nil) })
    }

    /// When the oldest in-flight entry was sent, nil when none is in flight.
    public var oldestSentAt: Double? {
        inFlight.values.compactMap(\.sentAt).min()
    }

    /// Sequences in delivery order (in flight first), for tests and diagnostics.
    public var sequences: [UInt64] {
        inFlight.values.map(\.sequence).sorted() + waiting[waitingHead...].map(\.sequence)
    }

    private mutating func popWaiting() -> Entry? {
        guard waitingHead < waiting.count else { return nil }
        let entry = waiting[waitingHead]
        waitingHead += 1
        if waitingHead > 1024, waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return entry
    }

    private mutating func requeueFront(_ entries: [Entry]) {
        waiting = entries + waiting[waitingHead...]
        waitingHead = 0
    }
}
