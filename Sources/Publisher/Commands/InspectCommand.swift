import Agent
import ArgumentParser
import Foundation

/// `acoustic-edge inspect FILE`: the shape, element type and statistics of every tensor in a
/// `.pt`, `.safetensors` or `.npy` file (and a safetensors file's metadata).
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the shape, type and statistics of a tensor file (.pt, .safetensors, .npy).",
        discussion: """
            For every tensor: shape, element type, number of values, min, max, mean and \
            standard deviation (population, over the finite values) and the count of NaN and \
            infinite values. For a safetensors file also its metadata. --json prints the same \
            facts as one JSON object.

            --png OUT.png draws a mel tensor ([1, n_mels, frames] or [n_mels, frames]) as a \
            heat map with a dB colour scale (viridis; mel bins upwards, time to the right), or \
            a segment folder of the disk mirror (segment.json, mic_{i}/{source}.pt) as a grid: \
            microphones in rows, sources in columns, one shared colour scale. See docs/pictures.md.
            """
    )

    @Argument(help: ArgumentHelp("The tensor file (or, with --png, a segment folder).", valueName: "file"))
    var file: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Draw the mel tensor or segment folder as a PNG heat map at this path.",
                                            valueName: "out.png"))
    var png: String?

    func validate() throws {
        if json && png != nil { throw ValidationError("--json and --png cannot be used together") }
    }

    func run() async throws {
        if let png {
            let picture = try MelPicture(path: file)
            let size = try picture.write(to: png)
            print(picture.summary(writtenTo: png, size: size))
            return
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), isFolder.boolValue {
            throw CommandFailure("\(file): a folder; inspect reads a tensor file (a segment folder can be drawn with --png OUT.png)")
        }
        let report = try TensorReport(path: file)
        print(json ? report.json : report.text, terminator: "")
    }
}
