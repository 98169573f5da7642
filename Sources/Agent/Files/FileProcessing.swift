import Configuration
import Foundation
import Pipeline
import Segments

/// `acoustic-edge process`: the agent's pipeline over audio files, each cut into segments
/// exactly as live capture cuts the stream, written to the disk mirror and, optionally,
/// published as `run` does.
public struct FileProcessing {
    /// What happens along the way, for the command to show: one call per finished segment
    /// (`done` of `total`, and what it wrote), and notes (a converted rate, dropped frames).
    public struct Progress: Sendable {
        public var segmentDone: @Sendable (_ label: String) -> Void
        public var note: @Sendable (_ line: String) -> Void
        public init(segmentDone: @escaping @Sendable (String) -> Void, note: @escaping @Sendable (String) -> Void) {
            self.segmentDone = segmentDone
            self.note = note
        }
    }

    /// The files, read and checked.
    let files: [FileSegmenter]
    let setup: PipelineSetup
    let config: AgentConfig
    let publish: Bool

    /// Reads and checks every input and builds the stages before anything is written: a bad
    /// file or model fails here with nothing half-written. `start` is the first sample's UTC
    /// time (nil: each file's modification time minus its duration).
    public init(config: AgentConfig, inputs: [String], start: SegmentTime?, publish: Bool) throws {
        var files: [FileSegmenter] = []
        var nextStart = start
        for input in inputs {
            let file = try FileSegmenter(path: input, sampleRate: config.capture.sampleRate,
                                         channels: config.capture.channels, segmentFrames: config.capture.segmentSamples,
                                         start: nextStart)
            if let s = nextStart { nextStart = s.advanced(byFrames: Int64(file.audio.frames), sampleRate: file.audio.sampleRate) }
            files.append(file)
        }
        guard let channels = files.first?.audio.channels else { throw AgentFailure("no input given") }
        if let other = files.first(where: { $0.audio.channels != channels }) {
            throw AgentFailure("\(other.path) has \(other.audio.channels) channels but \(files[0].path) has \(channels); process them separately")
        }
        self.files = files
        self.setup = try PipelineSetup(settings: PipelineSettings(config: config), channels: channels, inputName: files[0].path)
        self.config = config
        self.publish = publish
    }

    /// Whole segments in all files.
    public var segmentCount: Int { files.reduce(0) { $0 + $1.count } }

    /// Microphones per segment.
    public var channels: Int { setup.processor.channels }

    /// Seconds of audio per segment.
    public var segmentSeconds: Double { config.capture.segmentSeconds }

    /// Processes every segment of every file; returns the time each stage took in all.
    public func run(progress: Progress) async throws -> StageTimings {
        let publisher = publish ? try TensorPublisher(config: config) : nil
        let mirror = config.output.enabled ? MirrorWriter(root: config.output.dir) : nil
        let rate = config.capture.sampleRate
        var spent = StageTimings()
        for file in files {
            if file.originalRate != rate {
                progress.note("\(file.path): converted from \(file.originalRate) Hz to \(rate) Hz")
            }
            if file.count == 0 {
                progress.note("\(file.path): shorter than one segment (\(file.audio.frames) of \(file.segmentFrames) frames); nothing to process")
            }
            for index in 0..<file.count {
                let segment = file.segment(index)
                let (tensors, timings) = try setup.processor.process(segment.channelData)
                spent.denoise += timings.denoise
                spent.separate += timings.separate
                spent.mel += timings.mel
                let start = SegmentTime(secondsSinceEpoch: segment.startTime)
                let record = setup.record(index: segment.index, firstSample: segment.firstSample, start: start,
                                          frames: segment.frames, overrun: segment.overrun, origin: file.path)
                var label = "\(file.path) #\(index)"
                if let mirror {
                    label = try mirror.write(record: record, start: start, tensors: tensors)
                }
                publisher?.publish(record: record, tensors: tensors)
                progress.segmentDone(label)
            }
            if file.trailingFrames > 0 && file.count > 0 {
                progress.note("\(file.path): the last \(file.trailingFrames) frames do not fill a segment and were dropped")
            }
        }
        if let publisher {
            let stats = await publisher.finish()
            if stats.spooledMessages > 0 {
                progress.note("mqtt: \(stats.spooledMessages) messages still spooled for the next start\(stats.lastError.map { " (\($0))" } ?? "")")
            }
        }
        return spent
    }
}
