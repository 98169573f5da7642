/// A failure of the bridge, in one line.
public enum BridgeError: Error, CustomStringConvertible, Equatable {
    /// libmosquitto refused a call (creating the client, an option, connecting).
    case client(String)
    /// The spool folder cannot be used.
    case spool(String)

    /// The reason, in one line.
    public var description: String {
        switch self {
        case .client(let text): return "mqtt: \(text)"
        case .spool(let text): return "mqtt spool: \(text)"
        }
    }
}
