/// Summary statistics of float32 values, accumulated in double precision. NaN and infinite
/// values are counted and left out of min, max, mean and std (population, divisor n).
struct TensorStatistics {
    /// The number of values.
    var count: Int
    /// NaN values.
    var nanCount = 0
    /// Infinite values (either sign).
    var infinityCount = 0
    /// The smallest finite value; nil when there is none.
    var min: Double?
    /// The largest finite value; nil when there is none.
    var max: Double?
    /// The mean of the finite values; nil when there is none.
    var mean: Double?
    /// The population standard deviation of the finite values; nil when there is none.
    var std: Double?

    /// The statistics of `values`.
    init(_ values: [Float]) {
        count = values.count
        var finite = 0
        var sum = 0.0
        var low = Double.infinity, high = -Double.infinity
        for value in values {
            if value.isNaN { nanCount += 1; continue }
            if value.isInfinite { infinityCount += 1; continue }
            let v = Double(value)
            finite += 1
            sum += v
            low = Swift.min(low, v)
            high = Swift.max(high, v)
        }
        guard finite > 0 else { return }
        let average = sum / Double(finite)
        // Two passes: the deviations from the mean, not E[x^2] - E[x]^2, which cancels badly.
        var squares = 0.0
        for value in values where value.isFinite {
            let d = Double(value) - average
            squares += d * d
        }
        min = low
        max = high
        mean = average
        std = (squares / Double(finite)).squareRoot()
    }
}
