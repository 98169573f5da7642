/// An input that a DSP stage cannot work with, described in one line. (Parameters are
/// validated where they are defined, in the configuration; see `SpectralGate.init`.)
///
/// DSP is Foundation-free, so the errors carry their own text; the command-line layer prints
/// `description` as is.
public enum DSPError: Error, Equatable, CustomStringConvertible {
    /// The input signal cannot be processed (too short, empty...).
    case invalidInput(String)

    /// One line naming what is wrong.
    public var description: String {
        switch self {
        case .invalidInput(let reason): return reason
        }
    }
}
