#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A model's weights as Hugging Face lays them out: a folder with `model.safetensors`, or
/// shards plus `model.safetensors.index.json`, or a single `.safetensors` file. The index's
/// weight map is checked against the shard headers when the checkpoint is opened.
public final class Checkpoint: Sendable {
    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"
    /// Tokenizer and generation files a folder may hold besides `config.json` and the weights
    /// (what a merge copies from its tokenizer source).
    public static let tokenizerFileNames = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
        "added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "generation_config.json",
    ]

    /// The folders that files of model folder `directory` may be symbolic links into (what
    /// `copyTokenizerFiles` follows): the folder itself and, when it is a Hugging Face cache
    /// snapshot (`models--org--name/snapshots/<commit>`, whose files are links to
    /// `../../blobs/<etag>`), that repo's `blobs/` folder.
    public static func linkRoots(of directory: String) -> [String] {
        let absolute = FileSystem.absolute(directory)
        let snapshots = FileSystem.parent(of: absolute)
        guard snapshots.hasSuffix("/snapshots") else { return [absolute] }
        return [absolute, FileSystem.join(FileSystem.parent(of: snapshots), "blobs")]
    }

    /// The tokenizer files (`tokenizerFileNames`) that `directory` holds, each checked to be
    /// a regular file there (or a link into `linkRoots(of:)`), so that a merge can refuse a
    /// bad one before it starts rather than when it copies them at the end.
    public static func tokenizerFiles(in directory: String) throws(SafeTensorsError) -> [String] {
        let roots = linkRoots(of: directory)
        var names: [String] = []
        for name in tokenizerFileNames {
            let path = FileSystem.join(directory, name)
            guard FileSystem.exists(path) else { continue }
            let (fd, _) = try FileSystem.openRegularFile(path, linksWithin: roots)
            close(fd)
            names.append(name)
        }
        return names
    }

    /// The folder (or file) as given.
    public let path: String
    /// The folder holding the weights and config (the file's folder for a single file).
    public let directory: String
    /// Opened safetensors files, in shard order.
    public let files: [SafeTensorsFile]
    /// `config.json`, when the folder has one.
    public let config: JSONObject?
    /// Every tensor name, in shard then header order.
    public let tensorNames: [String]
    /// Where the weight files are read from when they are remote (nil: on this machine's disk).
    public let remote: RemoteSource?
    private let fileIndex: [String: Int]

    /// Opens and validates a checkpoint folder or file.
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        remote = nil
        var files: [SafeTensorsFile] = []
        var names: [String] = []
        var fileIndex: [String: Int] = [:]

        if !FileSystem.isDirectory(path) {
            guard FileSystem.exists(path) else { throw SafeTensorsError(file: path, .cannotOpen("no such file or directory")) }
            directory = FileSystem.parent(of: path)
            let file = try SafeTensorsFile(path: path)
            files = [file]
            for t in file.tensors { names.append(t.name); fileIndex[t.name] = 0 }
        } else {
            directory = path
            let indexPath = FileSystem.join(path, Checkpoint.indexFileName)
            let singlePath = FileSystem.join(path, Checkpoint.singleFileName)
            if FileSystem.exists(indexPath) {
                (files, names, fileIndex) = try Checkpoint.openSharded(indexPath: indexPath) { (shard) throws(SafeTensorsError) in
                    let shardPath = FileSystem.join(path, shard)
                    return FileSystem.exists(shardPath) ? try SafeTensorsFile(path: shardPath) : nil
                }
            } else if FileSystem.exists(singlePath) {
                let file = try SafeTensorsFile(path: singlePath)
                files = [file]
                for t in file.tensors { names.append(t.name); fileIndex[t.name] = 0 }
            } else {
                let candidates = try FileSystem.contents(of: path).filter { $0.hasSuffix(".safetensors") }
                guard !candidates.isEmpty else {
                    let hasBin = try FileSystem.contents(of: path).contains { $0.hasSuffix(".bin") || $0.hasSuffix(".pt") }
                    throw SafeTensorsError(file: path, .cannotOpen(hasBin
                        ? "only PyTorch .bin weights found; convert them to safetensors first"
                        : "no .safetensors weights in this folder"))
                }
                for name in candidates {
                    let file = try SafeTensorsFile(path: FileSystem.join(path, name))
                    for t in file.tensors {
                        guard fileIndex[t.name] == nil else {
                            throw SafeTensorsError(file: file.path, tensor: t.name, .duplicateTensor)
                        }
                        names.append(t.name)
                        fileIndex[t.name] = files.count
                    }
                    files.append(file)
                }
            }
        }
        self.files = files
        self.tensorNames = names
        self.fileIndex = fileIndex
        config = try Checkpoint.config(in: directory)
    }

    /// A remote model (`path` names it) read from `remote`: `folder` holds its config.json,
    /// index and tokenizer files (nil: none here, as on a worker that only reads tensors);
    /// `files` are its weights, remote `SafeTensorsFile`s by their names in the folder.
    /// Tensors are ordered as a local copy of the same files orders them.
    public init(path: String, folder: String?, files named: [(name: String, file: SafeTensorsFile)],
                remote: RemoteSource) throws(SafeTensorsError) {
        self.path = path
        self.remote = remote
        directory = folder ?? ""
        let indexPath = folder.map { FileSystem.join($0, Checkpoint.indexFileName) }
        let byName = Dictionary(named.map { ($0.name, $0.file) }, uniquingKeysWith: { first, _ in first })
        if let indexPath, FileSystem.exists(indexPath) {
            (files, tensorNames, fileIndex) = try Checkpoint.openSharded(indexPath: indexPath) { byName[$0] }
        } else {
            var names: [String] = []
            var fileIndex: [String: Int] = [:]
            for (i, file) in named.map(\.file).enumerated() {
                for t in file.tensors {
                    guard fileIndex[t.name] == nil else { throw SafeTensorsError(file: file.path, tensor: t.name, .duplicateTensor) }
                    names.append(t.name)
                    fileIndex[t.name] = i
                }
            }
            (files, tensorNames, self.fileIndex) = (named.map(\.file), names, fileIndex)
        }
        config = try folder.flatMap { (folder) throws(SafeTensorsError) in try Checkpoint.config(in: folder) }
    }

    /// The config.json of `directory`, nil when it has none.
    private static func config(in directory: String) throws(SafeTensorsError) -> JSONObject? {
        let configPath = FileSystem.join(directory, "config.json")
        if FileSystem.exists(configPath) {
            let bytes = try FileSystem.readFile(configPath)
            let parsed: JSONValue
            do {
                parsed = try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) in try JSONParser.parse(buffer) }
            } catch {
                throw SafeTensorsError(file: configPath, .invalidJSON(error.description))
            }
            guard case .object(let object) = parsed else { throw SafeTensorsError(file: configPath, .headerNotObject) }
            return object
        }
        return nil
    }

    /// The weight map of a `model.safetensors.index.json`: (tensor, shard file) pairs in file
    /// order, every shard a plain file name in the index's folder.
    public static func weightMap(indexPath: String) throws(SafeTensorsError) -> [(tensor: String, shard: String)] {
        func invalid(_ why: String) -> SafeTensorsError { SafeTensorsError(file: indexPath, .indexInvalid(why)) }
        let bytes = try FileSystem.readFile(indexPath)
        let root: JSONValue
        do {
            root = try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) in try JSONParser.parse(buffer) }
        } catch {
            throw invalid(error.description)
        }
        guard case .object(let object) = root, case .object(let weightMap)? = object["weight_map"] else {
            throw invalid("no \"weight_map\" object")
        }
        var shardOf: [(tensor: String, shard: String)] = []
        for entry in weightMap.entries {
            guard case .string(let shard) = entry.value else { throw invalid("weight_map value for \"\(entry.key)\" is not a string") }
            guard !shard.contains("/"), shard != "..", shard != ".", !shard.isEmpty else {
                throw invalid("shard name \"\(shard)\" is not a plain file name")
            }
            shardOf.append((entry.key, shard))
        }
        return shardOf
    }

    /// The shards of the index at `indexPath`, each opened by `open` (nil: the shard is missing).
    private static func openSharded(indexPath: String, open: (String) throws(SafeTensorsError) -> SafeTensorsFile?) throws(SafeTensorsError)
        -> ([SafeTensorsFile], [String], [String: Int])
    {
        let shardOf = try weightMap(indexPath: indexPath)
        let shardOrder = Set(shardOf.map(\.shard)).sorted()
        var files: [SafeTensorsFile] = []
        var fileIndexByShard: [String: Int] = [:]
        for shard in shardOrder {
            guard let file = try open(shard) else { throw SafeTensorsError(file: indexPath, .missingShard(shard)) }
            fileIndexByShard[shard] = files.count
            files.append(file)
        }
        var fileIndex: [String: Int] = [:]
        for (tensor, shard) in shardOf {
            let index = fileIndexByShard[shard]!
            guard files[index].info(tensor) != nil else {
                throw SafeTensorsError(file: files[index].path, tensor: tensor, .missingTensor)
            }
            fileIndex[tensor] = index
        }
        // Names in shard then header order, for stable listings.
        var names: [String] = []
        for (i, file) in files.enumerated() {
            for t in file.tensors where fileIndex[t.name] == i { names.append(t.name) }
        }
        return (files, names, fileIndex)
    }

    public func contains(_ name: String) -> Bool { fileIndex[name] != nil }

    public func info(_ name: String) -> TensorInfo? {
        fileIndex[name].flatMap { files[$0].info(name) }
    }

    /// The file holding `name`.
    public func file(for name: String) -> SafeTensorsFile? { fileIndex[name].map { files[$0] } }

    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorView {
        guard let index = fileIndex[name] else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        return try files[index].tensor(name)
    }

    /// Total bytes of tensor data.
    public var totalTensorBytes: Int { tensorNames.reduce(0) { $0 + (info($1)?.byteCount ?? 0) } }

    /// Number of transformer layers, from tensor names (highest layer index + 1).
    public var detectedLayerCount: Int {
        (tensorNames.compactMap { LayerName($0)?.index }.max()).map { $0 + 1 } ?? 0
    }
}
