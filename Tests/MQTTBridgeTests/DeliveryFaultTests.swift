import Control
import Foundation
import Logging
import ReferenceHarness
import Synchronization
import TensorFormats
import XCTest
@testable import MQTTBridge

/// The spool's disk full (a 2 MiB tmpfs, filled), against a real mosquitto: connected, every
/// message still goes out (from memory); disconnected, what the memory reserve cannot keep is
/// counted as lost, never silently; once the disk has room again, the condition clears.
final class SpoolDiskFullTests: XCTestCase {
    func testAFullSpoolDiskStillDeliversWhileConnectedAndCountsWhatItCannotKeep() async throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root (CI runs the tests as root)") }
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "diskfull")
        let mountPoint = scratch.appendingPathComponent("tmpfs")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        try ReferenceHarness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint.path])
        defer {
            _ = try? ReferenceHarness.run("/bin/umount", [mountPoint.path])
            try? FileManager.default.removeItem(at: scratch)
        }
        let spool = mountPoint.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        // Fill the file system to the last block.
        let filler = mountPoint.appendingPathComponent("filler")
        _ = FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let block = Data(repeating: 0xAB, count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        try? handle.close()

        let broker = try TestBroker(.init(persistence: true))
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 10_000, timeout: 120,
                                            clientID: "ml-\(UUID().uuidString.prefix(6))", persistentSession: true)
        var settings = bridgeSettings(port: broker.port)
        settings.spoolDirectory = spool.path
        let messageBytes = 100_000
        settings.spoolMemoryLimitBytes = 3_000_000
        let logger = Logger(label: "test") { _ in CollectingLogHandler() }
        let bridge = try MQTTBridge(settings: settings, logger: logger)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })

        // Connected: every message is refused by the disk, kept in memory, delivered.
        for index in 0..<40 {
            XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: messageBytes)))
            usleep(20_000)   // 50 messages/s, the pace of a busy agent
        }
        XCTAssertTrue(Wait.until(20) { bridge.stats.delivered == 40 }, "\(bridge.stats)")
        var stats = bridge.stats
        XCTAssertEqual(stats.heldInMemory, 40, "the disk took none of them")
        XCTAssertEqual(stats.lost, 0)
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertEqual(stats.lastError?.contains("No space left on device; keeping messages in memory"), true, stats.lastError ?? "-")
        let connectedFigures = "connected: 40 of 40 delivered from memory, 0 lost"

        // Disconnected: the reserve (3 MB) keeps what it can; the rest is lost and counted.
        broker.stop()
        XCTAssertTrue(Wait.until(10) { !bridge.stats.connected })
        for index in 40..<80 {
            XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: messageBytes)))
        }
        XCTAssertTrue(Wait.until(10) { let s = bridge.stats; return s.spooledMessages + s.lost == 40 }, "\(bridge.stats)")
        stats = bridge.stats
        let kept = stats.spooledMessages
        XCTAssertGreaterThan(stats.lost, 0, "more than the reserve holds")
        XCTAssertGreaterThan(kept, 0)
        XCTAssertLessThanOrEqual(kept * messageBytes, settings.spoolMemoryLimitBytes)
        XCTAssertEqual(stats.inMemoryNow, kept)
        XCTAssertEqual(MQTTBridge.statusFields(stats)["lost_messages"], .number(Double(stats.lost)))
        XCTAssertEqual(stats.lastError?.contains("the memory reserve (3000000 bytes) is full too: message to plant/mic0/fan lost"), true,
                       stats.lastError ?? "-")
        let lines = CollectingLogHandler.lines.withLock { $0 }
        XCTAssertEqual(lines.filter { $0.hasPrefix("warning") && $0.contains("is full too") }.count, 1, "said once, counted always")
        let disconnectedFigures = "disconnected: \(kept) of 40 kept in memory, \(stats.lost) lost (counted)"

        // Room again, broker back: the kept ones go out (in order, replayed), the next
        // message goes to disk, and the problem is over.
        try FileManager.default.removeItem(at: filler)
        try broker.start()
        XCTAssertTrue(Wait.until(20) { bridge.stats.delivered == 40 + kept }, "\(bridge.stats)")
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 80, bytes: messageBytes)))
        XCTAssertTrue(Wait.until(10) { bridge.stats.delivered == 41 + kept })
        stats = bridge.stats
        XCTAssertEqual(stats.heldInMemory, 40 + kept, "the last one went to disk")
        XCTAssertNil(stats.lastError, "the disk takes messages again")
        XCTAssertTrue(stats.recentProblems.contains { $0.message.contains("No space left on device") && $0.clearedAt != nil })
        XCTAssertTrue(Wait.until(10) { Set(subscriber.received.compactMap { $0.property("segment_index") }).count >= 41 + kept })
        subscriber.kill()
        var seen = Set<Int>()
        let firstArrivals = subscriber.received.compactMap { $0.property("segment_index").flatMap(Int.init) }
            .filter { seen.insert($0).inserted }
        XCTAssertEqual(firstArrivals, Array(0..<(40 + kept)) + [80], "nothing lost but what was counted, in order")
        let replayed = subscriber.received.filter { $0.property("replayed") == "true" }.compactMap { $0.property("segment_index").flatMap(Int.init) }
        XCTAssertEqual(Set(replayed), Set(40..<(40 + kept)), "what waited is marked replayed")
        await bridge.shutdown(flushWithin: 2)
        print("spool disk full (2 MiB tmpfs, filled; 100 kB messages, 3 MB memory reserve): \(connectedFigures); \(disconnectedFigures); after the disk had room: the \(kept) kept delivered, last_error cleared")
    }
}

/// A flood of valid commands against a real broker: every one answered exactly once, a status
/// beyond the bound answered busy, start/stop converging on the last one sent.
final class CommandFloodTests: XCTestCase {
    func testEveryCommandOfAFloodIsAnsweredOnceAndStartStopConverge() async throws {
        let broker = try TestBroker()
        var settings = bridgeSettings(port: broker.port)
        settings.commandLimit = 16
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        // The "agent": one command at a time, each taking a little work, as AgentCommands does.
        let state = Mutex("running")
        let agent = Task {
            for await command in bridge.commands {
                try? await Task.sleep(for: .milliseconds(1))
                let now: String = state.withLock { s in
                    if command.request.command == .start { s = "running" }
                    if command.request.command == .stop { s = "stopped" }
                    return s
                }
                bridge.reply(to: command, CommandReply(id: command.request.id, command: command.request.command.name, ok: true,
                                                       result: ["state": .string(now)]))
            }
        }
        let output = try ReferenceHarness.python("mqtt_command_flood.py", ["--port", String(broker.port), "--count", "1000",
                                                                           "--seed", "22", "--timeout", "60"])
        agent.cancel()
        guard case .object(let result)? = JSONValue.parse(Array(output.utf8)) else { return XCTFail(output) }
        XCTAssertEqual(result["answered"], .number(1000), output)
        XCTAssertEqual(result["duplicates"], .number(0), output)
        XCTAssertEqual(result["missing"], .array([]), output)
        guard case .string(let last)? = result["last_capture"] else { return XCTFail(output) }
        XCTAssertEqual(state.withLock { $0 }, last == "start" ? "running" : "stopped", "converged on the last start/stop: \(output)")
        let stats = bridge.stats
        XCTAssertEqual(result["busy"], .number(Double(stats.busyCommands)), output)
        XCTAssertEqual(stats.outstandingCommands, 0)
        XCTAssertEqual(stats.lostReplies, 0)
        print("command flood through the bridge (limit 16, 1 ms per command): \(output)")
        await bridge.shutdown(flushWithin: 1)
    }
}

/// Two bridges with one client id: mosquitto 2.0.11 closes each one's connection when the
/// other connects, without a DISCONNECT; both notice the pattern, say so, and retry at the
/// backoff's cap instead of fighting in a loop.
final class TakeoverTests: XCTestCase {
    func testAnotherClientWithTheSameIDIsDetectedReportedAndNotFoughtInALoop() async throws {
        let broker = try TestBroker()
        let id = "twin-\(UUID().uuidString.prefix(6))"
        var settings = bridgeSettings(port: broker.port, clientID: id)
        settings.reconnectDelay = 0.2
        settings.reconnectDelayMax = 1
        settings.takeoverWindow = 3
        let logger = Logger(label: "test") { _ in CollectingLogHandler() }
        let first = try MQTTBridge(settings: settings, logger: logger)
        first.start()
        XCTAssertTrue(Wait.until(10) { first.stats.connected })
        let second = try MQTTBridge(settings: settings, logger: logger)
        second.start()
        XCTAssertTrue(Wait.until(20) { first.stats.clientIDConflict && second.stats.clientIDConflict },
                      "first: \(first.stats.lastError ?? "-"); second: \(second.stats.lastError ?? "-")")
        let said = "another client is using client id \(id): the broker closed 3 connections in a row within 3 s of their CONNACK; retrying every 1 s"
        XCTAssertTrue(CollectingLogHandler.lines.withLock { $0 }.contains("warning mqtt: " + said))
        XCTAssertEqual(MQTTBridge.statusFields(first.stats)["client_id_conflict"], .bool(true))
        XCTAssertEqual(first.stats.lastError?.hasPrefix("another client is using client id \(id)"), true, first.stats.lastError ?? "-")
        // Not a loop: at the cap (1 s, jitter 0.8-1), at most about one attempt a second each.
        let before = first.stats.attempts + second.stats.attempts
        let started = Date()
        usleep(5_000_000)
        let attempts = first.stats.attempts + second.stats.attempts - before
        let rate = Double(attempts) / Date().timeIntervalSince(started)
        XCTAssertLessThanOrEqual(rate, 2 / 0.8 + 0.2, "\(attempts) attempts in 5 s")
        // The other one leaves: a connection that lasts ends the conflict.
        await second.shutdown(flushWithin: 0)
        XCTAssertTrue(Wait.until(15) { !first.stats.clientIDConflict && first.stats.connected }, "\(first.stats)")
        XCTAssertNil(first.stats.lastError)
        XCTAssertTrue(first.stats.recentProblems.contains { $0.message.hasPrefix("another client is using") && $0.clearedAt != nil })
        print(String(format: "client-id takeover: detected by both; %.2f attempts/s in all while both ran (two bridges)", rate))
        await first.shutdown(flushWithin: 0)
    }
}

/// What waited in the spool goes out `replayed`, behind the live messages, at most
/// `drainRate` per second; a message older than `messageExpiry` is dropped and counted; the
/// birth message precedes the tensors of every connection.
final class ReplayTests: XCTestCase {
    func testTheBacklogGoesOutReplayedPacedAndBehindLiveMessages() async throws {
        // The broker runs and the consumer is subscribed from the start; the bridge cannot log
        // in until its password file is fixed, so its first messages wait in the spool.
        let broker = try TestBroker(.init(users: ["agent": "agent-pw", "ml": "ml-pw"]))
        let scratch = try ReferenceHarness.makeScratchFolder(prefix: "replay")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let passwordFile = scratch.appendingPathComponent("password")
        try "not-yet\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 13, timeout: 30,
                                            extra: ["--username", "ml", "--password", "ml-pw"])
        var settings = bridgeSettings(port: broker.port)
        settings.username = "agent"
        settings.password = .file(passwordFile.path)
        settings.drainRate = 5
        settings.maxInFlight = 4
        // The safetensors metadata is marked as the agent's publisher marks it.
        let bridge = try MQTTBridge(settings: settings, markReplayed: { _, payload in
            (try? SafeTensorsFormat.addingMetadata(["replayed": "true"], to: payload)) ?? payload
        })
        bridge.start()
        func message(_ index: Int) -> OutgoingMessage {
            let tensor = Tensor(shape: [1, 4, 4], values: (0..<16).map { Float($0 + index) })
            let facts = [("segment_index", String(index)), ("segment_start", "2026-12-05T10:00:0\(index % 10).000Z")]
            return OutgoingMessage(topic: "plant/mic0/fan",
                                   payload: TensorFormat.safetensors.encode(tensor, metadata: Dictionary(uniqueKeysWithValues: facts)),
                                   userProperties: facts.map { (name: $0.0, value: $0.1) }, contentType: TensorFormat.safetensors.mediaType)
        }
        for index in 0..<10 { XCTAssertTrue(bridge.publish(message(index))) }
        XCTAssertTrue(Wait.until(5) { bridge.stats.backlog == 10 })
        try "agent-pw\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected })
        // Three live messages while the backlog drains.
        for index in 10..<13 {
            XCTAssertTrue(bridge.publish(message(index)))
            usleep(300_000)
        }
        let got = subscriber.finish()
        XCTAssertEqual(got.count, 13, subscriber.stderr)
        let indices = got.compactMap { $0.property("segment_index").flatMap(Int.init) }
        let backlog = got.filter { $0.property("replayed") == "true" }
        XCTAssertEqual(backlog.compactMap { $0.property("segment_index").flatMap(Int.init) }.filter { $0 < 10 }, Array(0..<10),
                       "the backlog in order")
        XCTAssertTrue(got.filter { ($0.property("segment_index").flatMap(Int.init) ?? 0) >= 10 }.allSatisfy { $0.property("replayed") == nil },
                      "live messages are not replayed")
        let lastBacklog = indices.lastIndex { $0 < 10 } ?? 0
        XCTAssertTrue(indices[..<lastBacklog].contains { $0 >= 10 }, "a live message went out while the backlog drained: \(indices)")
        // Paced: 10 at 5 per second take at least 9 / 5 s (load only makes it slower).
        let times = backlog.compactMap(\.received_at)
        if let firstTime = times.min(), let lastTime = times.max() {
            XCTAssertGreaterThanOrEqual(lastTime - firstTime, 9.0 / 5 - 0.15, "drain_rate 5/s")
        }
        // The original segment_start, and replayed in the safetensors metadata too (read back
        // with our decoder here; the agent's end-to-end test reads it with safetensors).
        XCTAssertEqual(backlog.first?.property("segment_start"), "2026-12-05T10:00:00.000Z")
        let metadata = try SafeTensorsFormat.decode(backlog.first?.payloadBytes ?? [], what: "payload").metadata
        XCTAssertEqual(metadata["replayed"], "true")
        XCTAssertEqual(metadata["segment_index"], "0")
        let live = got.first { $0.property("segment_index") == "11" }
        XCTAssertNil(try SafeTensorsFormat.decode(live?.payloadBytes ?? [], what: "payload").metadata["replayed"])
        XCTAssertEqual(bridge.stats.replayed, 10)
        await bridge.shutdown(flushWithin: 1)
    }

    func testAnExpiredSpooledMessageIsDroppedAndCountedAndTheRestCarryWhatIsLeft() async throws {
        let broker = try TestBroker(start: false)
        var settings = bridgeSettings(port: broker.port)
        settings.messageExpiry = 2
        let bridge = try MQTTBridge(settings: settings)
        bridge.start()
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 0, bytes: 100)))
        XCTAssertTrue(Wait.until(5) { bridge.stats.spooledMessages == 1 })
        usleep(2_300_000)   // the message outlives its expiry: time itself is the condition
        try broker.start()
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/+/+"], count: 1, timeout: 20)
        XCTAssertTrue(Wait.until(10) { bridge.stats.connected && bridge.stats.spooledMessages == 0 })
        XCTAssertEqual(bridge.stats.expired, 1)
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 1, bytes: 100)))
        let got = subscriber.finish()
        XCTAssertEqual(got.map { $0.property("segment_index") }, ["1"], "the expired one never reached the broker")
        XCTAssertEqual(got.first?.message_expiry, 2, "MQTT v5 message expiry interval, what is left of 2 s")
        XCTAssertEqual(MQTTBridge.statusFields(bridge.stats)["expired_messages"], .number(1))
        await bridge.shutdown(flushWithin: 1)
    }

    /// The birth message is retained and comes before the tensors of every connection: after
    /// a takeover cut the connection, the second birth precedes everything sent after it.
    func testTheBirthMessageIsRetainedAndPrecedesTheTensorsOfEveryConnection() async throws {
        let broker = try TestBroker()
        let subscriber = try PahoSubscriber(port: broker.port, topics: ["plant/meta", "plant/+/+"], count: 100, timeout: 30)
        var settings = bridgeSettings(port: broker.port)
        settings.reconnectDelay = 0.3
        let births = Counter()
        let bridge = try MQTTBridge(settings: settings, birth: { #"{"birth":\#(births.next())}"# })
        bridge.start()
        for index in 0..<3 { XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: 50))) }
        XCTAssertTrue(Wait.until(10) { bridge.stats.delivered == 3 })
        // Another client takes the id over for a moment: the connection is cut and made again.
        try ReferenceHarness.run("/usr/bin/mosquitto_pub", ["-V", "5", "-p", String(broker.port), "-i", settings.clientID,
                                                            "-t", "other/topic", "-m", "x"])
        for index in 3..<6 { XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: index, bytes: 50))) }
        XCTAssertTrue(Wait.until(10) { bridge.stats.delivered == 6 && bridge.stats.connections == 2 }, "\(bridge.stats)")
        bridge.publishBirth()
        XCTAssertTrue(bridge.publish(tensorMessage(mic: 0, source: "fan", index: 6, bytes: 50)))
        XCTAssertTrue(Wait.until(10) { subscriber.received.count >= 10 },
                      "\(subscriber.received.map { $0.topic == "plant/meta" ? "meta:\($0.payloadText ?? "")" : ($0.property("segment_index") ?? "?") })")
        subscriber.kill()
        let order = subscriber.received.map { $0.topic == "plant/meta" ? "meta:\($0.payloadText ?? "")" : ($0.property("segment_index") ?? "?") }
        XCTAssertEqual(order.first, #"meta:{"birth":1}"#, "\(order)")
        let second = order.firstIndex(of: #"meta:{"birth":2}"#) ?? .max
        let third = order.firstIndex(of: #"meta:{"birth":3}"#) ?? .max
        XCTAssertLessThan(second, order.firstIndex(of: "3") ?? -1, "the second connection's birth before its tensors: \(order)")
        XCTAssertLessThan(third, order.firstIndex(of: "6") ?? -1, "a refreshed birth before the next tensor: \(order)")
        XCTAssertTrue(subscriber.received.filter { $0.topic == "plant/meta" }.allSatisfy { $0.content_type == "application/json" })
        let late = try PahoSubscriber(port: broker.port, topics: ["plant/meta"], count: 1, timeout: 10).finish()
        XCTAssertEqual(late.first?.payloadText, #"{"birth":3}"#, "the latest, retained")
        XCTAssertEqual(late.first?.retain, true)
        await bridge.shutdown(flushWithin: 1)
    }
}
