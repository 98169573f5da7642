import Agent
import ArgumentParser
import Foundation
import Pipeline
import Synchronization

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
        let work = try FileProcessing(config: settings, inputs: inputs, start: firstStart, publish: publish)
        let total = work.segmentCount
        let progress = Mutex(ProgressReporter(total: total, secondsPerStep: work.segmentSeconds))
        let spent = try await work.run(progress: .init(
            segmentDone: { label in progress.withLock { $0.step(label) } },
            note: { line in Failure.writeToStandardError(line + "\n") }))
        if total > 0 {
            Failure.writeToStandardError(String(format: "processed %d segments x %d microphones in %.3f s (denoise %.3f s, separate %.3f s, mel %.3f s)\n",
                                                total, work.channels, spent.total, spent.denoise, spent.separate, spent.mel))
        }
    }
}
