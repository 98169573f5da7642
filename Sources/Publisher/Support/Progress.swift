import Foundation

/// Progress of a long run on stderr: a bar redrawn in place on a terminal
/// (`[#####.....] 5/10 segments  2.4x real time`), one plain line per step otherwise (logs,
/// journald, CI).
struct ProgressReporter {
    let total: Int
    let secondsPerStep: Double
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let started = ContinuousClock.now
    private var done = 0

    /// A reporter of `total` steps, each worth `secondsPerStep` of audio.
    init(total: Int, secondsPerStep: Double) {
        self.total = total
        self.secondsPerStep = secondsPerStep
    }

    /// Marks one more step done; `label` says what it was.
    mutating func step(_ label: String) {
        done += 1
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let speed = seconds > 0 ? Double(done) * secondsPerStep / seconds : 0
        let rate = String(format: "%.2fx real time", speed)
        if isTerminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            Failure.writeToStandardError("\r[\(bar)] \(done)/\(total) segments  \(rate)  \(label)\u{1B}[K")
            if done == total { Failure.writeToStandardError("\n") }
        } else {
            Failure.writeToStandardError("segment \(done)/\(total) done: \(label) (\(rate))\n")
        }
    }
}
