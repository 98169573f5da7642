import ArgumentParser
import Configuration
import Foundation

/// A subcommand of `acoustic-edge` that reports every failure the same way.
///
/// Conform with `execute()` instead of `run()`. Whatever `execute()` throws becomes one
/// line on standard error, `acoustic-edge: error: <reason>`, and an exit status (see
/// `ExitStatus`): 2 for a configuration error, 1 for any other failure. No stack trace,
/// no usage text. Mistakes on the command line itself (a missing argument, an unknown
/// option) are swift-argument-parser's: it prints the usage and exits with 64.
///
/// ```swift
/// struct MelCommand: AgentCommand {
///     @OptionGroup var config: ConfigOption
///     func execute() async throws {
///         let settings = try config.load()   // a typo in the file -> exit 2, one line
///         ...
///     }
/// }
/// ```
protocol AgentCommand: AsyncParsableCommand {
    /// The command's work. Throw any error: it is reported on one line by `run()`.
    mutating func execute() async throws
}

extension AgentCommand {
    /// Runs `execute()` and turns what it throws into one line on stderr and an exit status.
    mutating func run() async throws {
        do {
            try await execute()
        } catch {
            throw Failure.report(error)
        }
    }
}

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

    /// Writes the report line for `error` on stderr and returns what `run()` should throw:
    /// the `ExitCode` that ends the process (argument-parser's own exits pass through).
    static func report(_ error: Error) -> Error {
        switch error {
        case is ExitCode, is CleanExit:
            return error
        default:
            writeToStandardError("\(programName): error: \(message(for: error))\n")
            return status(for: error)
        }
    }

    /// The exit status for `error`.
    static func status(for error: Error) -> ExitCode {
        switch error {
        case is ConfigError: ExitStatus.configuration
        case let failure as CommandFailure: failure.status
        case is ValidationError: ExitStatus.usage
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

    /// `text` with line breaks and runs of spaces collapsed, trimmed: one line.
    static func oneLine(_ text: String) -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace })
        return words.isEmpty ? "unknown error" : words.joined(separator: " ")
    }

    /// Writes `text` to standard error, unbuffered.
    static func writeToStandardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
