// mqtt-probe: a tiny MQTTBridge client for tests and field checks.
//
//   mqtt-probe --port 1883 [--host H] [--prefix plant] [--client-id ID] [--spool DIR]
//              [--publish N] [--username U --password-env VAR] [--hold]
//
// Connects with the bridge (last will, retained status), publishes N small test messages to
// {prefix}/mic0/probe with a `seq` user property, prints "connected" once connected and
// "delivered N" once all are acknowledged, then holds the connection (`--hold`) until killed
// or shuts down cleanly. The tests kill -9 it to see the broker publish the last will.
import Foundation
import MQTTBridge

/// A line on stdout, written at once (the test reads it while the probe runs).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var settings = MQTTSettings()
settings.clientID = "mqtt-probe-\(getpid())"
var publishCount = 0
var hold = false
var arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func value(_ flag: String) -> String {
    guard !arguments.isEmpty else {
        FileHandle.standardError.write(Data("mqtt-probe: \(flag) needs a value\n".utf8))
        exit(2)
    }
    return arguments.removeFirst()
}
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    switch flag {
    case "--host": settings.host = value(flag)
    case "--port": settings.port = Int(value(flag)) ?? -1
    case "--prefix": settings.topicPrefix = value(flag)
    case "--client-id": settings.clientID = value(flag)
    case "--spool": settings.spoolDirectory = value(flag)
    case "--publish": publishCount = Int(value(flag)) ?? 0
    case "--username": settings.username = value(flag)
    case "--password-env": settings.password = .environment(value(flag))
    case "--hold": hold = true
    default:
        FileHandle.standardError.write(Data("mqtt-probe: unknown option \(flag)\n".utf8))
        exit(2)
    }
}
settings.reconnectDelayMax = 2
let bridge: MQTTBridge
do {
    bridge = try MQTTBridge(settings: settings)
} catch {
    FileHandle.standardError.write(Data("mqtt-probe: \(error)\n".utf8))
    exit(1)
}
bridge.start()
while !bridge.stats.connected { usleep(10_000) }
say("connected")
for seq in 0..<publishCount {
    _ = bridge.publish(OutgoingMessage(topic: settings.tensorTopic(mic: 0, source: "probe"),
                                       payload: Array("probe \(seq)".utf8),
                                       userProperties: [("seq", String(seq))]))
}
while bridge.stats.delivered < publishCount { usleep(10_000) }
say("delivered \(publishCount)")
if hold {
    while true { sleep(60) }
}
let done = DispatchSemaphore(value: 0)
Task {
    await bridge.shutdown(flushWithin: 2)
    done.signal()
}
done.wait()
