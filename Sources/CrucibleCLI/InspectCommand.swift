import ArgumentParser
import TensorIO

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the tensors, totals and metadata of a safetensors file or checkpoint folder.",
        discussion: """
            PATH is a .safetensors file, or a Hugging Face folder holding model.safetensors or
            shards with model.safetensors.index.json. The checkpoint is fully validated: a
            malformed file is reported with the file, the tensor and what is wrong.
            """
    )

    @Argument(help: "A .safetensors file, a checkpoint folder, or a Hub org/name[@rev].")
    var path: String

    @Flag(help: "Print JSON instead of a table (for scripts).")
    var json = false

    @Option(help: "Show at most this many tensors in the table (0 = all).")
    var limit = 0

    func run() throws {
        let checkpoint = try CLIError.wrap { try Checkpoint(path: HubModels.resolve(path, quiet: false)) }
        let summary = CheckpointSummary(checkpoint)
        print(json ? summary.json().serialized(indent: 2) : summary.table(limit: limit))
    }
}
