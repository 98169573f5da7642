/// A parameter or input that a DSP stage cannot work with, described in one line.
///
/// DSP is Foundation-free, so the errors carry their own text; the command-line layer prints
/// `description` as is.
public enum DSPError: Error, Equatable, CustomStringConvertible {
    /// A parameter is out of its range (`name` is the configuration key, e.g. `denoise.n_fft`).
    case invalidParameter(name: String, reason: String)
    /// The input signal cannot be processed (too short, empty...).
    case invalidInput(String)

    /// One line naming what is wrong.
    public var description: String {
        switch self {
        case .invalidParameter(let name, let reason): return "\(name): \(reason)"
        case .invalidInput(let reason): return reason
        }
    }
}
