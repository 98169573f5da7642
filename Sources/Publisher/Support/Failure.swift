import Agent
import ArgumentParser
import Configuration
import Foundation

// How every subcommand of `acoustic-edge` reports failure: one line on stderr,
// `acoustic-edge: error: <reason>`, and an exit status (`ExitStatus`): 2 for a
// configuration error, 1 for any other failure; no stack trace, no usage text.
//
// Subcommands need do nothing for it: `AcousticEdge.main()` runs every subcommand's
// `run()` and hands what it throws to `Failure.report`. A subcommand throws the error that
// says what is wrong: `ConfigError` (from `ConfigOption.load()`), the project's errors
// (`TensorFormatError`, `AudioFileError`, ...: their `description` is the reason) or
// `CommandFailure("reason")` for its own, optionally with another status. Mistakes on the
// command line itself (a missing argument, an unknown option, `ValidationError`) are
// swift-argument-parser's: it prints the error and the usage, exit 64.

/// Exit statuses of `acoustic-edge` (documented in docs/configuration.md).
enum ExitStatus {
    /// Any failure that is not a configuration error: unreadable file, busy device, bad model...
    static let failure = ExitCode(1)
    /// The configuration file is missing, unreadable, not YAML, or holds an unknown key, a
    /// wrong type or an impossible value.
    static let configuration = ExitCode(2)
    /// The command line itself is wrong (swift-argument-parser's status, with usage text).
    static let usage = ExitCode.validationFailure
}

/// A failure a command wants to report with its own words and, optionally, status.
struct CommandFailure: Error, CustomStringConvertible {
    /// The one-line reason.
    var description: String
    /// The exit status.
    var status: ExitCode

    /// A failure reported as `reason` with `status` (1 unless said otherwise).
    init(_ reason: String, status: ExitCode = ExitStatus.failure) {
        self.description = reason
        self.status = status
    }
}

/// How a thrown error is turned into the one-line report and the exit status.
enum Failure {
    /// The program name that starts every report.
    static let programName = "acoustic-edge"

    /// Writes the report line for `error` on stderr and returns the error to exit with:
    /// an `ExitCode`, or argument-parser's own exits and usage errors unchanged.
    static func report(_ error: Error) -> Error {
        switch error {
        case is ExitCode, is CleanExit, is ValidationError:
            return error
        case _ where isArgumentParsers(error):
            // Help, version and usage errors that argument-parser raises while running its
            // own commands (`help`, `--help` on a subcommand): its output, its status.
            return error
        default:
            writeToStandardError("\(programName): error: \(message(for: error))\n")
            return status(for: error)
        }
    }

    /// Whether `value`'s type is swift-argument-parser's own (its internal `CommandError`,
    /// `HelpCommand`...), which only its `exit(withError:)` knows how to present.
    static func isArgumentParsers(_ value: Any) -> Bool {
        String(reflecting: type(of: value)).hasPrefix("ArgumentParser.")
    }

    /// The exit status for `error`.
    static func status(for error: Error) -> ExitCode {
        switch error {
        case is ConfigError: ExitStatus.configuration
        case let failure as CommandFailure: failure.status
        default: ExitStatus.failure
        }
    }

    /// The reason of `error` on one line: its description for the project's errors (which
    /// are written to be read), Foundation's localized text for Foundation's errors.
    static func message(for error: Error) -> String {
        let text: String
        switch error {
        case let error as CocoaError:
            text = error.localizedDescription
        case let error as LocalizedError where error.errorDescription != nil:
            text = error.errorDescription ?? ""
        default:
            text = String(describing: error)
        }
        return oneLine(text)
    }

    /// `text` on one line; "unknown error" when it is empty.
    static func oneLine(_ text: String) -> String {
        let line = text.collapsedToOneLine
        return line.isEmpty ? "unknown error" : line
    }

    /// Writes `text` to standard error, unbuffered.
    static func writeToStandardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
