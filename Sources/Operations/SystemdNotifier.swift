import CSystemd
import Foundation

/// Talks to systemd through `sd_notify` (a `Type=notify` service): READY once capture and the
/// broker connection are up, WATCHDOG keep-alives fed by the pipeline's progress, STATUS lines
/// shown by `systemctl status`, STOPPING on shutdown. Outside systemd (`NOTIFY_SOCKET` unset)
/// every call is a no-op.
public struct SystemdNotifier: Sendable {
    /// A notifier for the current process.
    public init() {}

    /// Whether the process runs under a service manager that listens (`NOTIFY_SOCKET` set).
    public var isActive: Bool {
        ProcessInfo.processInfo.environment["NOTIFY_SOCKET"].map { !$0.isEmpty } ?? false
    }

    /// The watchdog interval systemd asks for (`WatchdogSec=`), or nil when it is off.
    public var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// Tells systemd the service is up.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// Feeds the watchdog: call only when the agent made progress (or is idle by choice).
    public func watchdog() { send("WATCHDOG=1") }

    /// Sets the free-form status line of `systemctl status`.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Tells systemd the service is stopping.
    public func stopping() { send("STOPPING=1") }

    /// Tells systemd the service reloads its configuration (then call `ready`).
    public func reloading() { send("RELOADING=1") }

    private func send(_ state: String) {
        guard isActive else { return }
        _ = sd_notify(0, state)
    }
}
