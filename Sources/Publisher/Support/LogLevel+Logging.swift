import Configuration
import Logging

extension Configuration.LogLevel {
    /// The swift-log level of `logging.level` (the names are the same).
    var loggerLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
