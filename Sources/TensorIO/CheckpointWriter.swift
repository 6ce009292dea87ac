/// Writes a Hugging Face checkpoint folder: tensors split into shards by a byte budget
/// (`model-00001-of-00003.safetensors` + `model.safetensors.index.json`, or a single
/// `model.safetensors`), plus any side files (config, tokenizer, model card).
///
/// Writes (`write`, or into a tensor's `region`) may come from any thread; `finish()` and
/// `abandon()` must not race with them. Everything is written inside `<directory>.partial`;
/// `finish()` verifies that every tensor is complete, fsyncs, and renames that folder to
/// `directory` in one step, so an interrupted job never leaves an output that looks finished.
public final class CheckpointWriter: Sendable {
    public static let defaultShardBudget: UInt64 = 5_000_000_000

    /// The final folder.
    public let directory: String
    /// The folder written into until `finish()`.
    public let temporaryDirectory: String
    /// Shard file names, in order.
    public let shardNames: [String]
    private let shards: [SafeTensorsWriter]
    private let shardOfTensor: [String: Int]
    private let specs: [SafeTensorsLayout.Spec]

    /// Plans shards for `specs` (kept in the given order) and creates the files.
    /// Fails if `directory` already exists. With `reuse`, the shards an interrupted job left
    /// in `<directory>.partial` with the same layout are kept for `markWritten`.
    public init(directory: String, tensors specs: [SafeTensorsLayout.Spec], shardBudget: UInt64 = defaultShardBudget,
                metadata: [(key: String, value: String)] = [("format", "pt")], reuse: Bool = false) throws(SafeTensorsError) {
        self.directory = directory
        self.temporaryDirectory = directory + ".partial"
        self.specs = specs
        guard !FileSystem.exists(directory) else {
            throw SafeTensorsError(file: directory, .ioFailure("output folder already exists"))
        }
        var seen = Set<String>()
        for spec in specs where !seen.insert(spec.name).inserted {
            throw SafeTensorsError(file: directory, tensor: spec.name, .duplicateTensor)
        }
        let groups = CheckpointWriter.planShards(specs, budget: shardBudget)
        let names = groups.count == 1
            ? [Checkpoint.singleFileName]
            : (1...groups.count).map { CheckpointWriter.shardName($0, of: groups.count) }
        let layouts = try groups.map { group throws(SafeTensorsError) in try SafeTensorsLayout(group, metadata: metadata) }
        if reuse {
            try CheckpointWriter.checkReusable(temporaryDirectory, shards: Dictionary(uniqueKeysWithValues: zip(names, layouts)))
        } else {
            FileSystem.remove(temporaryDirectory)
        }
        try FileSystem.makeDirectories(temporaryDirectory)

        var shards: [SafeTensorsWriter] = []
        var shardOf: [String: Int] = [:]
        do {
            for (i, group) in groups.enumerated() {
                let layout = layouts[i]
                shards.append(try SafeTensorsWriter(path: FileSystem.join(temporaryDirectory, names[i]), layout: layout, reuse: reuse))
                for spec in group { shardOf[spec.name] = i }
            }
        } catch {
            // An interrupted run's folder is left as it was found.
            if !reuse {
                shards.forEach { $0.abandon() }
                FileSystem.remove(temporaryDirectory)
            }
            throw error
        }
        self.shardNames = names
        self.shards = shards
        self.shardOfTensor = shardOf
    }

    /// Checks that an interrupted run's folder can be written into again: neither it nor
    /// anything in it is a symbolic link (a resumed job never writes or deletes through one),
    /// and every shard in it (finished or `.partial`) is one of `shards` with the same layout,
    /// so that a resume with another shard size or dtype is refused before anything changes.
    static func checkReusable(_ folder: String, shards: [String: SafeTensorsLayout]) throws(SafeTensorsError) {
        guard FileSystem.exists(folder) || FileSystem.isSymbolicLink(folder) else { return }
        guard !FileSystem.isSymbolicLink(folder) else {
            throw SafeTensorsError(file: folder, .ioFailure("is a symbolic link; an interrupted output folder must be a real folder"))
        }
        for name in try FileSystem.contents(of: folder) {
            let path = FileSystem.join(folder, name)
            guard !FileSystem.isSymbolicLink(path) else {
                throw SafeTensorsError(file: path, .ioFailure("is a symbolic link; an interrupted output folder holds only files Crucible wrote"))
            }
            let shard = name.hasSuffix(".partial") ? String(name.dropLast(".partial".count)) : name
            guard shard.hasSuffix(".safetensors") else { continue }
            guard let layout = shards[shard], SafeTensorsWriter.hasLayout(path, layout) else {
                throw SafeTensorsError(file: path, .ioFailure(
                    "was written with another output layout (a different --out-shard-size or --out-dtype?); "
                    + "resume with the options of the interrupted run, or remove \(folder) to start over"))
            }
        }
    }

    /// `model-0000i-of-0000n.safetensors`.
    public static func shardName(_ i: Int, of n: Int) -> String {
        func pad(_ x: Int) -> String { let s = String(x); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "model-\(pad(i))-of-\(pad(n)).safetensors"
    }

    /// Groups tensors in order, starting a new shard when the next tensor would push the
    /// current one past `budget` (a tensor larger than the budget gets a shard of its own).
    public static func planShards(_ specs: [SafeTensorsLayout.Spec], budget: UInt64) -> [[SafeTensorsLayout.Spec]] {
        var groups: [[SafeTensorsLayout.Spec]] = [[]]
        var size: UInt64 = 0
        for spec in specs {
            let bytes = UInt64(spec.byteCount)
            if !groups[groups.count - 1].isEmpty && size + bytes > budget {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(spec)
            size += bytes
        }
        return groups
    }

    /// The layout entry for `name` (dtype, shape, byte size).
    public func info(_ name: String) -> TensorInfo? {
        shardOfTensor[name].flatMap { shards[$0].layout.info(name) }
    }

    /// Writes `bytes` at `byteOffset` inside tensor `name`.
    public func write(_ name: String, at byteOffset: Int = 0, bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        guard let shard = shardOfTensor[name] else { throw SafeTensorsError(file: temporaryDirectory, tensor: name, .missingTensor) }
        try shards[shard].write(name, at: byteOffset, bytes: bytes)
    }

    /// Tensor `name`'s place in its shard, looked up once for all the writes into it.
    public func region(_ name: String) throws(SafeTensorsError) -> SafeTensorsWriter.Region {
        guard let shard = shardOfTensor[name] else { throw SafeTensorsError(file: temporaryDirectory, tensor: name, .missingTensor) }
        return try shards[shard].region(name)
    }

    /// `SafeTensorsWriter.pieces` of tensor `name` in its shard.
    public func pieces<R>(of name: String, _ ranges: [Range<Int>], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> [R] {
        guard let shard = shardOfTensor[name] else { throw SafeTensorsError(file: temporaryDirectory, tensor: name, .missingTensor) }
        return try shards[shard].pieces(of: name, ranges, body)
    }

    /// Counts tensor `name` as fully written (verified bytes reused by a resumed job).
    public func markWritten(_ name: String) throws(SafeTensorsError) {
        guard let shard = shardOfTensor[name] else { throw SafeTensorsError(file: temporaryDirectory, tensor: name, .missingTensor) }
        try shards[shard].markWritten(name)
    }

    /// Flushes every shard's written bytes to disk.
    public func sync() {
        shards.forEach { $0.sync() }
    }

    /// Writes a side file (config.json, README.md, ...) into the folder.
    public func writeFile(_ name: String, contents: String) throws(SafeTensorsError) {
        try FileSystem.writeFile(FileSystem.join(temporaryDirectory, name), Array(contents.utf8))
    }

    /// Writes `config.json`, with `torch_dtype` (and `dtype`, when present) set to `dtype`.
    public func writeConfig(_ config: JSONObject, dtype: DType?) throws(SafeTensorsError) {
        var config = config
        if let torchName = dtype?.torchName {
            if config["dtype"] != nil { config["dtype"] = .string(torchName) }
            config["torch_dtype"] = .string(torchName)
        }
        try writeFile("config.json", contents: JSONValue.object(config).serialized(indent: 2) + "\n")
    }

    /// Copies the tokenizer files (`Checkpoint.tokenizerFileNames`) that model folder
    /// `directory` holds: regular files only, never through a symbolic link that leaves the
    /// folder (`Checkpoint.linkRoots(of:)`), each with at most its source's permission bits.
    public func copyTokenizerFiles(from directory: String) throws(SafeTensorsError) {
        let roots = Checkpoint.linkRoots(of: directory)
        for name in try Checkpoint.tokenizerFiles(in: directory) {
            try FileSystem.copyFile(from: FileSystem.join(directory, name), to: FileSystem.join(temporaryDirectory, name), linksWithin: roots)
        }
    }

    /// Copies a side file into the folder (`FileSystem.copyFile`: a regular file, links
    /// followed only inside its own folder, its permission bits kept at most).
    public func copyFile(from source: String, as name: String) throws(SafeTensorsError) {
        try FileSystem.copyFile(from: source, to: FileSystem.join(temporaryDirectory, name))
    }

    /// Completes every shard, writes the index for sharded output, and renames the folder into place.
    public func finish() throws(SafeTensorsError) {
        for shard in shards { try shard.finish() }
        if shards.count > 1 {
            var weightMap: [(String, String)] = []
            for spec in specs { weightMap.append((spec.name, shardNames[shardOfTensor[spec.name]!])) }
            weightMap.sort { $0.0 < $1.0 }
            let total = specs.reduce(0) { $0 + $1.byteCount }
            let index = JSONValue.object(JSONObject([
                "metadata": .object(JSONObject(["total_size": .integer(total)])),
                "weight_map": .object(JSONObject(weightMap.map { .init(key: $0.0, value: .string($0.1)) })),
            ]))
            try writeFile(Checkpoint.indexFileName, contents: index.serialized(indent: 2) + "\n")
        }
        FileSystem.syncDirectory(temporaryDirectory)
        try FileSystem.rename(temporaryDirectory, directory)
        FileSystem.syncDirectory(FileSystem.parent(of: directory))
    }

    /// Deletes everything written so far.
    public func abandon() {
        shards.forEach { $0.abandon() }
        FileSystem.remove(temporaryDirectory)
    }
}
