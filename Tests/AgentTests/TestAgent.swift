import AudioFiles
import Configuration
import Control
import Foundation
import Logging
import MQTTBridge
import Pipeline
import ReferenceHarness
import Synchronization
import TensorFormats
@testable import Agent

/// What an agent under test delivered, in order: its tensors and status nudges.
final class RecordingDelivery: Delivery {
    enum Event: Equatable { case segment(index: Int, tensors: Int), status }
    private let log = Mutex<[Event]>([])
    var events: [Event] { log.withLock { $0 } }
    var segments: [Int] { events.compactMap { if case .segment(let i, _) = $0 { i } else { nil } } }

    func publish(record: SegmentRecord, tensors: [[Tensor]]) -> Int {
        log.withLock { $0.append(.segment(index: record.segmentIndex, tensors: tensors.reduce(0) { $0 + $1.count })) }
        return 0
    }
    func statusChanged() { log.withLock { $0.append(.status) } }
    let stats = MQTTStats.zero
}

/// An agent run in-process on a short replayed file (2 microphones of noise and tones, 0.25-s
/// segments, no model: source `mix`), its commands sent straight to its inbox: no broker, no
/// binary, no sleeps beyond the file's real-time pace.
struct TestAgent {
    let folder: URL
    let configPath: String
    let controller: AgentController
    let delivery = RecordingDelivery()
    let service: AgentService
    private let post: AsyncStream<PendingCommand>.Continuation

    /// `yaml` is appended to the base configuration (replay of `input.wav`, mirror in the scratch folder).
    init(_ extra: String = "", loop: Bool = true) throws {
        folder = try ReferenceHarness.makeScratchFolder(prefix: "agent")
        let wav = folder.appendingPathComponent("input.wav").path
        let frames = 16_000 * 3
        let channels: [[Float]] = (0..<2).map { c in
            (0..<frames).map { i -> Float in
                let tone = 0.2 * sin(Double(i) * 0.05 * Double(c + 1))
                let chirp = 0.01 * sin(Double(i * i) * 1e-3)
                return Float(tone + chirp)
            }
        }
        try AudioFile.write(AudioBuffer(sampleRate: 16_000, channelData: channels), to: wav)
        configPath = folder.appendingPathComponent("agent.yaml").path
        try Self.writeConfig(at: configPath, folder: folder, loop: loop, extra: extra)
        let config = try AgentConfig.load(path: configPath)
        controller = AgentController(config: config, configPath: configPath, logger: Logger(label: "test-agent"))
        let (inbox, post) = AsyncStream.makeStream(of: PendingCommand.self)
        self.post = post
        var service = AgentService(controller: controller, delivery: delivery, commandInbox: inbox,
                                   logger: Logger(label: "test-agent"))
        service.reloadsOnHangup = false
        self.service = service
    }

    static func writeConfig(at path: String, folder: URL, loop: Bool, extra: String) throws {
        let yaml = """
            capture:
              source: file
              file: \(folder.appendingPathComponent("input.wav").path)
              segment_seconds: 0.25
              loop: \(loop)
            denoise:
              enabled: false
            output:
              dir: \(folder.appendingPathComponent("output").path)
            mqtt:
              enabled: false
            \(extra)
            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Sends `command` as a channel would and waits for its one reply.
    func send(_ command: AgentCommand, id: String = UUID().uuidString) async -> CommandReply {
        await withCheckedContinuation { (continuation: CheckedContinuation<CommandReply, Never>) in
            let once = Mutex(false)
            post.yield(PendingCommand(request: CommandRequest(command: command, id: id), answer: { reply in
                let first = once.withLock { done in defer { done = true }; return !done }
                precondition(first, "a command was answered twice")
                continuation.resume(returning: reply)
            }))
        }
    }

    /// Waits until `condition` holds (polling every 20 ms, up to `seconds`).
    func until(_ seconds: Double = 20, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
