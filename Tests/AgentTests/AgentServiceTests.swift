import Configuration
import Control
import Foundation
import Logging
import Pipeline
import ReferenceHarness
import ServiceLifecycle
import Synchronization
import TensorFormats
import Testing
@testable import Agent

/// The running agent driven in-process: commands, reload, calibration, shutdown order.
@Suite(.serialized) struct AgentServiceTests {
    @Test func stopPausesCaptureAndStartResumesIt() async throws {
        let agent = try TestAgent()
        defer { agent.remove() }
        let running = Task { try await agent.service.run() }
        #expect(await agent.until { agent.delivery.segments.count >= 2 })

        let stopped = await agent.send(.stop, id: "s1")
        #expect(stopped.ok && stopped.id == "s1")
        #expect(stopped.result["state"] == .string("stopped"))
        #expect(!agent.controller.isCapturing)
        let countWhenStopped = agent.delivery.segments.count
        // A stopped agent captures nothing: no segment arrives for two segment lengths.
        try await Task.sleep(for: .milliseconds(600))
        #expect(agent.delivery.segments.count <= countWhenStopped + 1, "at most the segment in flight")

        let again = await agent.send(.stop)
        #expect(again.ok, "stop while stopped changes nothing and is not an error")
        let started = await agent.send(.start, id: "s2")
        #expect(started.ok && started.result["state"] == .string("running"))
        #expect(await agent.until { agent.delivery.segments.count >= countWhenStopped + 3 })
        let status = await agent.send(.status)
        #expect(status.ok && status.result["segments"] != nil && status.result["sources"] == .array([.string("mix")]))

        agent.controller.beginShutdown()
        try await running.value
    }

    @Test func calibrateFromTheRunningCaptureSwitchesDenoiseToTheNewProfile() async throws {
        let agent = try TestAgent()
        defer { agent.remove() }
        // Name the profile in the scratch folder: the base config leaves denoise off.
        let profile = agent.folder.appendingPathComponent("site-noise.pt").path
        var config = agent.controller.config
        config.denoise.noiseProfile = profile
        agent.controller.replace(config: config, setup: nil)
        let running = Task { try await agent.service.run() }
        #expect(await agent.until { agent.delivery.segments.count >= 1 })
        #expect(agent.controller.setup?.processor.denoiseMode == "off")

        let reply = await agent.send(.calibrate(seconds: 0.5), id: "cal")
        #expect(reply.ok, "\(reply.error ?? "")")
        #expect(reply.result["noise_profile"] == .string(profile))
        // The noise profile holds 0.5 s of both microphones, as the next segments gave them.
        let tensor = try TensorFile.read(path: profile)
        #expect(tensor.shape == [2, 8000])
        // Denoise switched to it: stationary, with that profile, from the next segment on.
        #expect(agent.controller.config.denoise.enabled)
        #expect(agent.controller.setup?.processor.denoiseMode == "stationary")
        #expect(agent.controller.setup?.noiseProfile == profile)
        #expect(agent.controller.snapshot.state == .running, "back to running after calibrating")

        agent.controller.beginShutdown()
        try await running.value
    }

    @Test func reloadAppliesStageSettingsKeepsRestartOnlyOnesAndRefusesABrokenFile() async throws {
        let agent = try TestAgent()
        defer { agent.remove() }
        let running = Task { try await agent.service.run() }
        #expect(await agent.until { agent.delivery.segments.count >= 1 })
        #expect(agent.controller.config.mel.topDB == 80)

        // A real change: mel.top_db (applied) and capture.segment_seconds (needs a restart).
        try TestAgent.writeConfig(at: agent.configPath, folder: agent.folder, loop: true,
                                  extra: "mel:\n  top_db: 60")
        var text = try String(contentsOfFile: agent.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "segment_seconds: 0.25", with: "segment_seconds: 0.5")
        try text.write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        let reply = await agent.send(.reload)
        #expect(reply.ok, "\(reply.error ?? "")")
        let applied = try #require(reply.result["applied"].flatMap { if case .string(let s) = $0 { s } else { nil } })
        #expect(applied.contains("capture.* changes need a restart"))
        #expect(agent.controller.config.mel.topDB == 60, "applied")
        #expect(agent.controller.config.capture.segmentSeconds == 0.25, "kept until a restart")

        // A broken file is refused with its key named, and the running configuration kept.
        try "mel:\n  top_db: -5\n".write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        let refused = await agent.send(.reload)
        #expect(!refused.ok)
        #expect(refused.error?.contains("mel.top_db") == true, "\(refused.error ?? "")")
        #expect(agent.controller.config.mel.topDB == 60)

        agent.controller.beginShutdown()
        try await running.value
    }

    @Test func commandsDuringCalibrationAreRefusedButStatusIsAnswered() async throws {
        let agent = try TestAgent()
        defer { agent.remove() }
        var config = agent.controller.config
        config.denoise.noiseProfile = agent.folder.appendingPathComponent("n.pt").path
        agent.controller.replace(config: config, setup: nil)
        let running = Task { try await agent.service.run() }
        #expect(await agent.until { agent.delivery.segments.count >= 1 })
        async let calibration = agent.send(.calibrate(seconds: 1))
        #expect(await agent.until { agent.controller.snapshot.state != .running })
        let stop = await agent.send(.stop)
        #expect(!stop.ok && stop.error == "calibration in progress")
        let status = await agent.send(.status)
        #expect(status.ok && status.result["state"] == .string("calibrating"))
        #expect(await calibration.ok)
        agent.controller.beginShutdown()
        try await running.value
    }

    /// SIGTERM's order: the agent's service stops first (capture, then the segment in flight,
    /// mirrored and handed over), and only then does the bridge's service flush and go offline.
    @Test func gracefulShutdownFinishesTheSegmentBeforeTheBridgeStops() async throws {
        let agent = try TestAgent()
        defer { agent.remove() }
        final class Log: Sendable {
            let lines = Mutex<[String]>([])
            func append(_ line: String) { lines.withLock { $0.append(line) } }
        }
        let order = Log()
        struct Bridge: Service {
            let order: Log
            let delivery: RecordingDelivery
            func run() async throws {
                try? await gracefulShutdown()
                order.append("bridge flush after \(delivery.segments.count) segments")
            }
        }
        struct Agent: Service {
            let service: AgentService
            let order: Log
            let delivery: RecordingDelivery
            func run() async throws {
                try await service.run()
                order.append("agent done after \(delivery.segments.count) segments")
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: Bridge(order: order, delivery: agent.delivery)),
                       .init(service: Agent(service: agent.service, order: order, delivery: agent.delivery))],
            logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        #expect(await agent.until { agent.delivery.segments.count >= 2 })
        await group.triggerGracefulShutdown()
        try await running.value
        let log = order.lines.withLock { $0 }
        #expect(log.count == 2)
        #expect(log.first?.hasPrefix("agent done") == true, "\(log)")
        // Nothing was delivered after the agent said it was done, and the mirror has every
        // delivered segment (the one in flight included).
        let delivered = agent.delivery.segments.count
        #expect(log == ["agent done after \(delivered) segments", "bridge flush after \(delivered) segments"])
        let folders = try FileManager.default.contentsOfDirectory(atPath: agent.folder.appendingPathComponent("output").path)
            .filter { !$0.hasPrefix(".") }
        #expect(folders.count == delivered)
    }

    @Test func runtimeStartsMetricsBridgeAgentInThatOrder() async throws {
        var config = AgentConfig()
        config.capture.source = .file
        config.capture.file = "/nonexistent.wav"
        config.metrics.port = 9
        config.mqtt.port = 1
        config.mqtt.spool.dir = try ReferenceHarness.makeScratchFolder(prefix: "spool").path
        let services = try AgentRuntime.makeServices(config: config, configPath: nil, registry: .init(),
                                                     logger: Logger(label: "test"))
        #expect(services.map { "\(type(of: $0))" } == ["MetricsEndpoint", "BridgeService", "AgentService"])
        if let bridge = services[1] as? BridgeService { _ = await bridge.publisher.finish(within: 0) }
    }
}

/// When the watchdog is fed.
@Suite struct WatchdogPolicyTests {
    @Test func runningFeedsOnlyWhileSegmentsKeepComing() {
        #expect(WatchdogPolicy.shouldFeed(state: .running, secondsSinceProgress: 5, segmentSeconds: 10))
        #expect(WatchdogPolicy.shouldFeed(state: .running, secondsSinceProgress: 39, segmentSeconds: 10))
        #expect(!WatchdogPolicy.shouldFeed(state: .running, secondsSinceProgress: 40, segmentSeconds: 10))
        #expect(!WatchdogPolicy.shouldFeed(state: .running, secondsSinceProgress: 600, segmentSeconds: 10))
    }

    @Test func idleByChoiceAlwaysFeeds() {
        #expect(WatchdogPolicy.shouldFeed(state: .stopped, secondsSinceProgress: 600, segmentSeconds: 10))
        #expect(WatchdogPolicy.shouldFeed(state: .calibrating(resume: .running), secondsSinceProgress: 600, segmentSeconds: 10))
    }
}
