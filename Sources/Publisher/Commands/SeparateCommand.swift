import Agent
import ArgumentParser

/// `acoustic-edge separate --model MODEL INPUT OUTDIR`: the separation stage alone.
struct SeparateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "separate",
        abstract: "Separate an audio file into the machine parts of a Demucs model.",
        discussion: """
            MODEL is an HTDemucs model in the demucs library's safetensors format (the \
            model file of docs/contract.md: what `python -m training export` writes). Every \
            channel of INPUT (any format libsndfile reads) is separated on its own, as \
            demucs.apply.apply_model(shifts=0) does: one pass for up to the model's \
            segment, overlapping segments (overlap 0.25) for longer files. INPUT is resampled \
            to the model's rate when it differs. Writes OUTDIR/<source>.wav, float32, one \
            channel per input channel, each file whole or not at all.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The model file (.safetensors).", valueName: "model"))
    var model: String

    @Argument(help: ArgumentHelp("The audio file to separate.", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The folder for <source>.wav (created when missing).", valueName: "outdir"))
    var outdir: String

    func run() async throws {
        print(try StageCommands.separate(model: model, input: input, outdir: outdir))
    }
}
