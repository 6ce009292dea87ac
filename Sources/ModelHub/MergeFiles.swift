import TensorIO

/// The files of a model repository that a merge needs, in the order they are fetched:
/// `config.json`, the tokenizer files and a LoRA adapter's `adapter_config.json` (for
/// `model+adapter`), then the weights, chosen as `Checkpoint` opens
/// them (the index and its shards, else `model.safetensors`, else every `.safetensors`
/// file). Weights come last, so a snapshot with complete weights has the rest as well.
enum MergeFiles {
    /// What to fetch, given a revision's top-level files and, when it has an index, the
    /// shards the index names.
    static func select(from files: [String], shards: [String]?) -> [String] {
        let present = Set(files)
        let companions = (["config.json", "adapter_config.json"] + Checkpoint.tokenizerFileNames).filter(present.contains)
        if let shards { return companions + [Checkpoint.indexFileName] + shards }
        if present.contains(Checkpoint.singleFileName) { return companions + [Checkpoint.singleFileName] }
        return companions + files.filter { $0.hasSuffix(".safetensors") }.sorted()
    }

    /// The distinct shard names of an index, in order.
    static func shards(ofIndex path: String) throws(SafeTensorsError) -> [String] {
        Set(try Checkpoint.weightMap(indexPath: path).map(\.shard)).sorted()
    }

    /// What a snapshot folder lacks before a merge can use it; empty when its weights are
    /// complete. (Without an index, any `.safetensors` file counts as complete weights.)
    static func missing(in folder: String) -> [String] {
        let index = FileSystem.join(folder, Checkpoint.indexFileName)
        if FileSystem.exists(index) {
            guard let shards = try? shards(ofIndex: index) else { return [Checkpoint.indexFileName] }
            return shards.filter { !FileSystem.exists(FileSystem.join(folder, $0)) }
        }
        let names = (try? FileSystem.contents(of: folder)) ?? []
        return names.contains { $0.hasSuffix(".safetensors") } ? [] : ["the weights (\(Checkpoint.singleFileName) or an index and its shards)"]
    }
}
