import ArgumentParser
import TensorIO

/// Options shared by every command that writes a checkpoint.
struct OutputOptions: ParsableArguments {
    @Option(help: "Maximum shard size in bytes; K, M, B suffixes (decimal), e.g. 5B, 500M (default 5B).")
    var outShardSize: String?

    @Option(help: "Output dtype: float32, bfloat16, float16 or float64 (default: the config's, else the inputs').")
    var outDtype: String?

    @Flag(help: "Do not copy tokenizer files into the output.")
    var noCopyTokenizer = false

    /// --out-shard-size when given (a config's value or the default applies otherwise).
    func givenShardBudget() throws -> UInt64? {
        guard let outShardSize else { return nil }
        guard let bytes = ByteCount.parse(outShardSize) else {
            throw ValidationError("--out-shard-size \"\(outShardSize)\" is not a size (examples: 5B, 500M, 64K, 1000000)")
        }
        return bytes
    }

    func shardBudget() throws -> UInt64 { try givenShardBudget() ?? CheckpointWriter.defaultShardBudget }

    func dtype() throws -> DType? {
        guard let outDtype else { return nil }
        guard let dtype = DType(torchName: outDtype) else {
            throw ValidationError("--out-dtype \"\(outDtype)\" is not one of float32, bfloat16, float16, float64")
        }
        return dtype
    }
}
