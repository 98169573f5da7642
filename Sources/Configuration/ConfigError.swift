/// Why a configuration was refused: the file, the line, the key's dotted name and a
/// one-line reason, e.g. `agent.yaml:12: mqtt.qos: must be 0, 1 or 2, got 3`.
///
/// The command line prints `description` after `acoustic-edge: error: ` and exits with
/// status 2.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of mistake it is.
    public enum Kind: Sendable, Equatable {
        /// The configuration file does not exist.
        case fileNotFound
        /// The file exists but cannot be read (permissions, a folder, not UTF-8...).
        case unreadable
        /// The file is not valid YAML (or not a mapping of sections).
        case syntax
        /// A key (or section) that the agent does not know.
        case unknownKey
        /// A value of the wrong type (a string where a number belongs...).
        case wrongType
        /// A value of the right type that is impossible (a negative rate, 0 mels...).
        case invalidValue
    }

    /// What kind of mistake it is.
    public var kind: Kind
    /// The key's dotted name (`mqtt.tls.ca_file`); nil for a problem of the whole file.
    public var key: String?
    /// One line saying what is wrong, without the file, line or key.
    public var reason: String
    /// The configuration file, when the configuration came from one.
    public var file: String?
    /// The 1-based line of the key in the file, when known.
    public var line: Int?

    /// A configuration error.
    public init(_ kind: Kind, key: String?, _ reason: String, file: String? = nil, line: Int? = nil) {
        self.kind = kind
        self.key = key
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// `file:line: key: reason`, on one line (parts that are unknown are left out).
    public var description: String {
        var text = ""
        if let file {
            text += file
            if let line { text += ":\(line)" }
            text += ": "
        } else if let line {
            text += "line \(line): "
        }
        if let key { text += "\(key): " }
        text += reason
        return text.oneLine
    }
}

extension String {
    /// The string with every line break and tab turned into a space: error messages stay
    /// on one line whatever a user's value contains.
    var oneLine: String {
        String(map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }
}
