/// Capped exponential backoff of reconnect attempts: `initial`, twice that, ... up to
/// `maximum`, then `maximum` forever (the bridge never gives up). Pure: no clock, no I/O.
public struct Backoff: Sendable, Equatable {
    /// First delay in seconds.
    public let initial: Double
    /// Largest delay in seconds.
    public let maximum: Double
    /// The delay the next failure will wait.
    public private(set) var current: Double
    /// Failures since the last success.
    public private(set) var failures = 0

    /// A backoff from `initial` doubling up to `maximum`.
    public init(initial: Double, maximum: Double) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.current = initial
    }

    /// The delay to wait after one more failure; the next one doubles, up to the cap.
    public mutating func next() -> Double {
        let delay = current
        current = min(current * 2, maximum)
        failures += 1
        return delay
    }

    /// A connection succeeded: start again from `initial`.
    public mutating func reset() {
        current = initial
        failures = 0
    }
}
