import Control

/// When the agent feeds systemd's watchdog (`WatchdogSec` in the unit): whenever the pipeline
/// keeps up, or the agent is idle by choice (stopped, calibrating). A running pipeline that
/// has not finished a segment for three segment lengths (plus 10 s of slack for a slow first
/// segment) is stuck: the feed stops and systemd restarts the service.
enum WatchdogPolicy {
    /// Whether to feed the watchdog now.
    static func shouldFeed(state: ControlStateMachine.State, secondsSinceProgress: Double, segmentSeconds: Double) -> Bool {
        !state.isRunning || secondsSinceProgress < 3 * segmentSeconds + 10
    }
}
