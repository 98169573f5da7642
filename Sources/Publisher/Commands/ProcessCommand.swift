import ArgumentParser
import Capture
import Configuration
import Foundation
import Pipeline

/// `acoustic-edge process`: the agent's pipeline over audio files.
struct ProcessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Run the pipeline (denoise, separate, mel) over audio files and write the disk mirror.",
        discussion: """
            Each INPUT (any format libsndfile reads; its channels are the microphones) is cut \
            into segments exactly as live capture cuts the stream: consecutive whole segments of \
            capture.segment_seconds, a trailing partial segment reported and dropped, a file at \
            another rate converted to capture.sample_rate with libsoxr. Every segment becomes a \
            folder {output}/{YYYY-MM-DD_HH-MM-SS}/ with mic_{i}/{source}.pt ([1, n_mels, frames] \
            log-mel tensors) and segment.json, written aside and renamed into place.

            The segment start times come from --start (the first sample of the first INPUT) or, \
            without it, from each file's modification time minus its duration.

            Example:
              acoustic-edge process --config config/acoustic-edge.yaml --output out recording.wav
            """
    )

    @OptionGroup var config: ConfigOption

    @Option(name: .long, help: ArgumentHelp("Where to write the mirror (overrides output.dir).", valueName: "dir"))
    var output: String?

    @Flag(name: .long, help: "Also publish every tensor over MQTT (mqtt.* settings), as `run` does.")
    var publish = false

    @Option(name: .long, help: ArgumentHelp("UTC time of the first sample, ISO 8601 (2025-07-16T15:03:20.000Z).", valueName: "time"))
    var start: String?

    @Argument(help: ArgumentHelp("Audio files to process.", valueName: "input"))
    var inputs: [String]

    mutating func run() async throws {
        var settings = try config.load()
        if let output { settings.output.dir = output }
        var firstStart: SegmentTime? = nil
        if let start {
            guard let parsed = SegmentTime(iso8601: start) else {
                throw CommandFailure("--start '\(start)' is not an ISO 8601 time like 2025-07-16T15:03:20.000Z", status: ExitStatus.usage)
            }
            firstStart = parsed
        }
        // Read and check every input and build the stages before writing anything: a bad file
        // or model fails the command with nothing half-written.
        let segmentFrames = settings.capture.segmentSamples
        var files: [FileSegmenter] = []
        var nextStart = firstStart
        for input in inputs {
            let file = try FileSegmenter(path: input, sampleRate: settings.capture.sampleRate,
                                         channels: settings.capture.channels, segmentFrames: segmentFrames, start: nextStart)
            if let s = nextStart { nextStart = s.advanced(byFrames: Int64(file.audio.frames), sampleRate: file.audio.sampleRate) }
            files.append(file)
        }
        guard let channels = files.first?.audio.channels else { throw CommandFailure("no input given") }
        if let other = files.first(where: { $0.audio.channels != channels }) {
            throw CommandFailure("\(other.path) has \(other.audio.channels) channels but \(files[0].path) has \(channels); process them separately")
        }
        let setup = try PipelineSetup(config: settings, channels: channels, inputName: files[0].path)
        let publisher = publish ? try TensorPublisher(config: settings) : nil
        let mirror = settings.output.enabled ? MirrorWriter(root: settings.output.dir) : nil

        let total = files.reduce(0) { $0 + $1.count }
        var spent = StageTimings()
        var progress = ProgressReporter(total: total, secondsPerStep: Double(segmentFrames) / Double(settings.capture.sampleRate))
        for file in files {
            if file.originalRate != settings.capture.sampleRate {
                Failure.writeToStandardError("\(file.path): converted from \(file.originalRate) Hz to \(settings.capture.sampleRate) Hz\n")
            }
            if file.count == 0 {
                Failure.writeToStandardError("\(file.path): shorter than one segment (\(file.audio.frames) of \(segmentFrames) frames); nothing to process\n")
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
                    let folder = try mirror.write(record: record, start: start, tensors: tensors)
                    label = folder
                }
                publisher?.publish(record: record, tensors: tensors)
                progress.step(label)
            }
            if file.trailingFrames > 0 && file.count > 0 {
                Failure.writeToStandardError("\(file.path): the last \(file.trailingFrames) frames do not fill a segment and were dropped\n")
            }
        }
        if let publisher { try await publisher.finish() }
        if total > 0 {
            Failure.writeToStandardError(String(format: "processed %d segments x %d microphones in %.3f s (denoise %.3f s, separate %.3f s, mel %.3f s)\n",
                                                total, channels, spent.total, spent.denoise, spent.separate, spent.mel))
        }
    }
}
