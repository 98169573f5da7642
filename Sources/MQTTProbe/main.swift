// mqtt-probe: a tiny MQTTBridge client for tests and field checks.
//
//   mqtt-probe --port 1883 [--host H] [--prefix plant] [--client-id ID] [--spool DIR]
//              [--publish N] [--bytes B] [--username U --password-env VAR] [--hold] [--no-wait]
//
// Connects with the bridge (last will, retained status), publishes N test messages of B
// bytes (default: a short text) to {prefix}/mic0/probe with a `seq` user property, prints
// "connected" once connected and "delivered N" once all are acknowledged, then holds the
// connection (`--hold`) until killed or shuts down cleanly. With `--no-wait` it publishes
// at once, connected or not, and prints "spooled N" when all N are in the spool. The tests
// kill -9 it to see the broker publish the last will, and to crash it with a full spool.
import Foundation
import MQTTBridge

/// A line on stdout, written at once (the test reads it while the probe runs).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var settings = MQTTSettings()
settings.clientID = "mqtt-probe-\(getpid())"
var publishCount = 0
var hold = false
var noWait = false
var payloadBytes = 0
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
    case "--no-wait": noWait = true
    case "--bytes": payloadBytes = Int(value(flag)) ?? 0
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
if !noWait {
    while !bridge.stats.connected { usleep(10_000) }
    say("connected")
}
for seq in 0..<publishCount {
    let payload = payloadBytes > 0 ? (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &+ seq) }
                                   : Array("probe \(seq)".utf8)
    while !bridge.publish(OutgoingMessage(topic: settings.tensorTopic(mic: 0, source: "probe"), payload: payload,
                                          userProperties: [("seq", String(seq))])) {
        usleep(1_000)   // hand-over queue full: wait for the bridge thread
    }
}
if noWait {
    while bridge.stats.spooledMessages + bridge.stats.delivered < publishCount { usleep(10_000) }
    say("spooled \(publishCount)")
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
