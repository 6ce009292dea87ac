import Foundation
import Testing
import TensorIO
import TestSupport

typealias Spec = SafeTensorsLayout.Spec

/// Random bytes for each spec, seeded.
private func tensorData(_ specs: [Spec], seed: UInt64) -> [String: [UInt8]] {
    var rng = SplitMix64(seed: seed)
    return Dictionary(uniqueKeysWithValues: specs.map { ($0.name, rng.bytes($0.byteCount)) })
}

private func writeAll(_ writer: CheckpointWriter, _ specs: [Spec], _ data: [String: [UInt8]]) throws {
    for spec in specs { try data[spec.name]!.withUnsafeBytes { try writer.write(spec.name, bytes: $0) } }
}

private func readJSON(_ path: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
}

private func listing(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

/// (byte sizes, budget, expected group sizes)
private let shardPlanCases: [([Int], UInt64, [Int])] = [
    ([10, 10, 10], 30, [3]),
    ([10, 10, 10], 29, [2, 1]),
    ([50, 10], 20, [1, 1]),
    ([10, 50, 10], 20, [1, 1, 1]),
    ([5, 5, 5, 5, 5], 10, [2, 2, 1]),
    ([0, 0, 10, 0], 10, [4]),
]

private let byteCountCases: [(String, UInt64)] = [
    ("5B", 5_000_000_000), ("500M", 500_000_000), ("64K", 64_000), ("1.5B", 1_500_000_000), ("5e9", 5_000_000_000),
    ("100", 100), ("2G", 2_000_000_000), ("64k", 64_000), ("0.5M", 500_000), (" 10M ", 10_000_000), ("1", 1),
]

@Suite("Writing and reading Hugging Face checkpoint folders")
struct CheckpointFolderTests {
    /// 40 + 30 + 200 + 20 + 50 bytes with a budget of 80: [t0 t1] [t2 (alone, over budget)] [t3 t4].
    static let shardedSpecs: [Spec] = [
        .init(name: "model.embed_tokens.weight", dtype: .f32, shape: [10]),
        .init(name: "model.layers.0.mlp.up_proj.weight", dtype: .bf16, shape: [15]),
        .init(name: "model.layers.0.mlp.down_proj.weight", dtype: .f32, shape: [5, 10]),
        .init(name: "model.norm.weight", dtype: .f16, shape: [10]),
        .init(name: "lm_head.weight", dtype: .u8, shape: [50]),
    ]

    @Test("a small budget splits tensors into numbered shards with an index; a tensor over budget gets its own shard")
    func shardingByBudget() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("merged")
        let specs = Self.shardedSpecs
        let data = tensorData(specs, seed: 1)
        let writer = try CheckpointWriter(directory: out, tensors: specs, shardBudget: 80)
        let names = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]
        #expect(writer.shardNames == names)
        try writeAll(writer, specs, data)
        try writer.writeFile("config.json", contents: #"{"model_type":"llama","num_hidden_layers":1}"#)
        try writer.finish()

        #expect(try listing(out) == ["config.json"] + names + ["model.safetensors.index.json"])
        let index = try readJSON(out + "/model.safetensors.index.json")
        let metadata = try #require(index["metadata"] as? [String: Any])
        #expect(metadata["total_size"] as? Int == 40 + 30 + 200 + 20 + 50)
        let weightMap = try #require(index["weight_map"] as? [String: String])
        #expect(weightMap == [
            "model.embed_tokens.weight": names[0], "model.layers.0.mlp.up_proj.weight": names[0],
            "model.layers.0.mlp.down_proj.weight": names[1],
            "model.norm.weight": names[2], "lm_head.weight": names[2],
        ])
        // Each shard holds exactly its tensors, in the given order, with format metadata.
        let expectedShards = [[0, 1], [2], [3, 4]]
        for (shard, members) in zip(names, expectedShards) {
            let file = try SafeTensorsFile(path: out + "/" + shard)
            #expect(file.tensors.map(\.name) == members.map { specs[$0].name })
            #expect(file.metadata.map(\.key) == ["format"] && file.metadata.map(\.value) == ["pt"])
        }

        let checkpoint = try Checkpoint(path: out)
        #expect(checkpoint.files.count == 3)
        #expect(checkpoint.tensorNames == specs.map(\.name))
        #expect(checkpoint.totalTensorBytes == 340)
        #expect(checkpoint.config?["num_hidden_layers"] == .number("1"))
        for spec in specs {
            let view = try checkpoint.tensor(spec.name)
            #expect(view.dtype == spec.dtype && view.shape == spec.shape)
            #expect(Array(view.bytes) == data[spec.name]!, "\(spec.name)")
        }
    }

    @Test("shard plans: greedy in order, a new shard when the next tensor would pass the budget", arguments: shardPlanCases)
    func shardPlans(sizes: [Int], budget: UInt64, groups: [Int]) {
        let specs = sizes.enumerated().map { Spec(name: "t\($0.offset)", dtype: .u8, shape: [$0.element]) }
        let plan = CheckpointWriter.planShards(specs, budget: budget)
        #expect(plan.map(\.count) == groups)
        #expect(plan.flatMap { $0 } == specs, "order is kept")
    }

    @Test("shard names are zero-padded to five digits")
    func shardNames() {
        #expect(CheckpointWriter.shardName(1, of: 3) == "model-00001-of-00003.safetensors")
        #expect(CheckpointWriter.shardName(12, of: 123456) == "model-00012-of-123456.safetensors")
    }

    @Test("everything in one shard is written as model.safetensors with no index")
    func singleShard() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("single")
        let specs = Self.shardedSpecs
        let data = tensorData(specs, seed: 2)
        let writer = try CheckpointWriter(directory: out, tensors: specs)
        #expect(writer.shardNames == ["model.safetensors"])
        try writeAll(writer, specs, data)
        try writer.finish()
        #expect(try listing(out) == ["model.safetensors"])
        let checkpoint = try Checkpoint(path: out)
        #expect(checkpoint.tensorNames == specs.map(\.name))
        for spec in specs { #expect(Array(try checkpoint.tensor(spec.name).bytes) == data[spec.name]!) }
        #expect(checkpoint.config == nil)
    }

    @Test("tensors written out of order and in pieces read back identical, in pieces before the end and whole after")
    func outOfOrderPieces() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("pieces")
        let specs = Self.shardedSpecs
        let data = tensorData(specs, seed: 3)
        let writer = try CheckpointWriter(directory: out, tensors: specs, shardBudget: 80)
        var rng = SplitMix64(seed: 4)
        // Every tensor cut into pieces of random sizes; all pieces of all tensors in a shuffled order.
        var pieces: [(String, Range<Int>)] = []
        for spec in specs {
            var start = 0
            while start < spec.byteCount {
                let end = min(spec.byteCount, start + Int.random(in: 1...17, using: &rng))
                pieces.append((spec.name, start..<end))
                start = end
            }
        }
        pieces.shuffle(using: &rng)
        for (name, range) in pieces {
            try data[name]!.withUnsafeBytes { try writer.write(name, at: range.lowerBound, bytes: UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
        #expect(writer.info("model.norm.weight")?.shape == [10])
        // Read back before finishing, in pieces (as a job's digests read its output).
        for spec in specs {
            let cuts = stride(from: 0, to: spec.byteCount, by: 7).map { $0..<min(spec.byteCount, $0 + 7) }
            let read = try writer.pieces(of: spec.name, cuts) { Array($0) }
            #expect(read.map(\.count) == cuts.map(\.count) && Array(read.joined()) == data[spec.name]!, "\(spec.name)")
        }
        try writer.finish()
        let checkpoint = try Checkpoint(path: out)
        for spec in specs { #expect(Array(try checkpoint.tensor(spec.name).bytes) == data[spec.name]!, "\(spec.name)") }
    }

    @Test("the output folder appears only after finish(); until then only the .partial folder exists")
    func publishedOnlyOnFinish() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("atomic")
        let specs = Self.shardedSpecs
        let writer = try CheckpointWriter(directory: out, tensors: specs, shardBudget: 80)
        #expect(writer.temporaryDirectory == out + ".partial")
        #expect(isDirectory(out + ".partial"))
        #expect(!fileExists(out))
        try writeAll(writer, specs, tensorData(specs, seed: 5))
        #expect(!fileExists(out))
        try writer.finish()
        #expect(isDirectory(out))
        #expect(!fileExists(out + ".partial"))
    }

    @Test("finish() with a tensor never written throws and leaves no output folder")
    func finishWithMissingTensorThrows() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("incomplete")
        let specs = Self.shardedSpecs
        let data = tensorData(specs, seed: 6)
        let writer = try CheckpointWriter(directory: out, tensors: specs, shardBudget: 80)
        // The missing tensor is in the first shard, so finish() fails before closing any shard
        // (abandon() after a later shard fails would close finished shards' descriptors twice).
        for spec in specs where spec.name != "model.layers.0.mlp.up_proj.weight" {
            try data[spec.name]!.withUnsafeBytes { try writer.write(spec.name, bytes: $0) }
        }
        let error = #expect(throws: SafeTensorsError.self) { try writer.finish() }
        #expect(error?.tensor == "model.layers.0.mlp.up_proj.weight")
        #expect(!fileExists(out))
        writer.abandon()
        #expect(!fileExists(out + ".partial"))
        #expect(try listing(dir.path).isEmpty)
    }

    @Test("an existing output folder is refused and left untouched")
    func existingFolderRefused() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("exists")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try dir.write("exists/keep.txt", text: "keep me")
        let error = #expect(throws: SafeTensorsError.self) { _ = try CheckpointWriter(directory: out, tensors: Self.shardedSpecs) }
        guard case .ioFailure = error?.problem else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.description.contains(out) == true)
        #expect(try listing(out) == ["keep.txt"])
        #expect(!fileExists(out + ".partial"))
    }

    @Test("a stale .partial folder from an interrupted run is replaced")
    func stalePartialReplaced() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("again")
        try FileManager.default.createDirectory(atPath: out + ".partial", withIntermediateDirectories: false)
        try dir.write("again.partial/junk.safetensors", [1, 2, 3])
        let specs = [Spec(name: "w", dtype: .u8, shape: [3])]
        let writer = try CheckpointWriter(directory: out, tensors: specs)
        try [UInt8]([7, 8, 9]).withUnsafeBytes { try writer.write("w", bytes: $0) }
        try writer.finish()
        #expect(try listing(out) == ["model.safetensors"])
    }

    @Test("a tensor name given twice is refused even when the copies would land in different shards")
    func duplicateNamesAcrossShards() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url("dups")
        let specs = [Spec(name: "w", dtype: .u8, shape: [100]), Spec(name: "w", dtype: .u8, shape: [100])]
        // Same shard: refused by the layout.
        #expect(throws: SafeTensorsError.self) { _ = try CheckpointWriter(directory: out, tensors: specs) }
        #expect(!fileExists(out + ".partial"))
        // Budget 100 puts each copy in its own shard.
        do {
            let writer = try CheckpointWriter(directory: out, tensors: specs, shardBudget: 100)
            writer.abandon()
            Issue.record("CheckpointWriter accepted two tensors named \"w\" in shards \(writer.shardNames)")
        } catch {
            #expect(error.problem == .duplicateTensor && error.tensor == "w")
        }
        #expect(!fileExists(out + ".partial"))
    }

    /// finish() closes each shard it completes; when a later shard is incomplete it throws, and
    /// abandon() (the documented clean-up) must not close the completed shards' descriptors a
    /// second time: by then the numbers may belong to files opened elsewhere in the process.
    @Test("abandon() after finish() failed on a later shard closes no file descriptor twice")
    func abandonAfterFailedFinishClosesOnce() async {
        await #expect(processExitsWith: .success) {
            let out = FileManager.default.temporaryDirectory.path + "/crucible-abandon-exit-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: out + ".partial") }
            let specs = [Spec(name: "a", dtype: .u8, shape: [8]), Spec(name: "b", dtype: .u8, shape: [8])]
            guard let writer = try? CheckpointWriter(directory: out, tensors: specs, shardBudget: 8) else { exit(2) }
            let bytes = [UInt8](repeating: 1, count: 8)
            guard (try? bytes.withUnsafeBytes { try writer.write("a", bytes: $0) }) != nil else { exit(3) }
            guard (try? writer.finish()) == nil else { exit(4) }  // "b" was never written
            // The lowest free descriptor: the one shard 1 just closed.
            let mine = open("/dev/null", O_RDONLY)
            guard mine >= 0 else { exit(5) }
            writer.abandon()
            // Still open? If abandon() closed shard 1's old number again, it closed this file.
            exit(fcntl(mine, F_GETFD) == -1 ? 6 : 0)
        }
    }

    @Test("writing a tensor the writer does not know throws missingTensor")
    func unknownTensorWrite() throws {
        let dir = try TemporaryDirectory()
        let writer = try CheckpointWriter(directory: dir.url("x"), tensors: Self.shardedSpecs)
        defer { writer.abandon() }
        let error = #expect(throws: SafeTensorsError.self) { try [UInt8]([1]).withUnsafeBytes { try writer.write("nope", bytes: $0) } }
        #expect(error?.problem == .missingTensor && error?.tensor == "nope")
    }

    @Test("side files are copied into the folder")
    func copiesSideFiles() throws {
        let dir = try TemporaryDirectory()
        let source = try dir.write("tokenizer.json", text: #"{"version":"1.0"}"#)
        let out = dir.url("side")
        let writer = try CheckpointWriter(directory: out, tensors: [Spec(name: "w", dtype: .u8, shape: [1])])
        try [UInt8]([1]).withUnsafeBytes { try writer.write("w", bytes: $0) }
        try writer.copyFile(from: source, as: "tokenizer.json")
        try writer.finish()
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/tokenizer.json")) == Data(#"{"version":"1.0"}"#.utf8))
    }
}

@Suite("Checkpoint rejects inconsistent folders")
struct CheckpointIndexErrorTests {
    /// A folder with shards a (tensor "x") and b (tensor "y") and the given index text.
    static func folder(index: String) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        let b = SafeTensorsBuilder.self
        try dir.write("model-00001-of-00002.safetensors", b.file(header: "{" + b.entry("x", "U8", [2], 0, 2) + "}", data: [1, 2]))
        try dir.write("model-00002-of-00002.safetensors", b.file(header: "{" + b.entry("y", "U8", [1], 0, 1) + "}", data: [3]))
        try dir.write(Checkpoint.indexFileName, text: index)
        return dir
    }

    static func index(_ map: [(String, String)]) -> String {
        #"{"metadata":{"total_size":3},"weight_map":{"# + map.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}}"
    }

    @Test("a consistent hand-written index opens, in shard then header order")
    func validIndex() throws {
        let dir = try Self.folder(index: Self.index([("y", "model-00002-of-00002.safetensors"), ("x", "model-00001-of-00002.safetensors")]))
        let checkpoint = try Checkpoint(path: dir.path)
        #expect(checkpoint.tensorNames == ["x", "y"])
        #expect(Array(try checkpoint.tensor("y").bytes) == [3])
        #expect(checkpoint.file(for: "y")?.path == dir.url("model-00002-of-00002.safetensors"))
    }

    @Test("an index naming a shard that does not exist throws missingShard")
    func missingShard() throws {
        let dir = try Self.folder(index: Self.index([("x", "model-00001-of-00002.safetensors"), ("z", "model-00003-of-00003.safetensors")]))
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        #expect(error?.problem == .missingShard("model-00003-of-00003.safetensors"))
        #expect(error?.file == dir.url(Checkpoint.indexFileName))
        #expect(error?.description.contains("model-00003-of-00003.safetensors") == true)
    }

    @Test("an index naming a tensor its shard lacks throws missingTensor naming the shard file and tensor")
    func missingTensorInShard() throws {
        let dir = try Self.folder(index: Self.index([("x", "model-00001-of-00002.safetensors"), ("ghost", "model-00002-of-00002.safetensors")]))
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        #expect(error?.problem == .missingTensor)
        #expect(error?.file == dir.url("model-00002-of-00002.safetensors"))
        #expect(error?.tensor == "ghost")
        #expect(error?.description.contains("model-00002-of-00002.safetensors") == true)
        #expect(error?.description.contains("\"ghost\"") == true)
    }

    @Test("weight_map values that are not plain file names are refused", arguments: [
        "../model-00001-of-00002.safetensors", "sub/model.safetensors", "/etc/passwd", "..", ".", "",
    ])
    func shardNameWithPathRefused(shard: String) throws {
        let dir = try Self.folder(index: Self.index([("x", shard)]))
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        guard case .indexInvalid = error?.problem else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.file == dir.url(Checkpoint.indexFileName))
    }

    @Test("an index that is not JSON, has no weight_map, or maps to a non-string is invalid", arguments: [
        "not json", #"{"metadata":{}}"#, #"{"weight_map":[]}"#, #"{"weight_map":{"x":1}}"#, #"{"weight_map":{"x":"a","x":"b"}}"#,
    ])
    func malformedIndex(text: String) throws {
        let dir = try Self.folder(index: text)
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        guard case .indexInvalid = error?.problem else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("a folder of unindexed shards holding the same tensor twice throws duplicateTensor")
    func unindexedDuplicate() throws {
        let dir = try TemporaryDirectory()
        let b = SafeTensorsBuilder.self
        try dir.write("a.safetensors", b.file(header: "{" + b.entry("x", "U8", [1], 0, 1) + "}", data: [1]))
        try dir.write("b.safetensors", b.file(header: "{" + b.entry("x", "U8", [1], 0, 1) + "}", data: [2]))
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        #expect(error?.problem == .duplicateTensor && error?.tensor == "x")
    }

    @Test("a folder with only .bin weights, an empty folder and a missing path cannot be opened")
    func nothingToOpen() throws {
        let bin = try TemporaryDirectory()
        try bin.write("pytorch_model.bin", [0])
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: bin.path) }
        guard case .cannotOpen(let why) = error?.problem else { Issue.record("got \(String(describing: error))"); return }
        #expect(why.contains(".bin"))
        let empty = try TemporaryDirectory()
        #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: empty.path) }
        #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: empty.url("missing")) }
    }

    @Test("an invalid config.json is reported against the config file")
    func invalidConfig() throws {
        let dir = try Self.folder(index: Self.index([("x", "model-00001-of-00002.safetensors")]))
        try dir.write("config.json", text: "{\"a\":")
        let error = #expect(throws: SafeTensorsError.self) { _ = try Checkpoint(path: dir.path) }
        #expect(error?.file == dir.url("config.json"))
    }
}

@Suite("ByteCount parses shard sizes")
struct ByteCountTests {
    @Test("decimal suffixes, fractions and exponents", arguments: byteCountCases)
    func parses(text: String, bytes: UInt64) {
        #expect(ByteCount.parse(text) == bytes)
    }

    @Test("invalid sizes are nil", arguments: ["", "abc", "-1", "0", "B", "M", "-5M", "0.0000001", "1e30", "inf", "nan", "5 X", "1.5.5M"])
    func rejects(text: String) {
        #expect(ByteCount.parse(text) == nil)
    }

    @Test("sizes format for people in decimal units")
    func formats() {
        #expect(ByteCount.format(17) == "17 B")
        #expect(ByteCount.format(1_234_567_890) == "1.23 GB")
        #expect(ByteCount.format(512_000) == "512 KB")
        #expect(ByteCount.format(12_345_678) == "12.3 MB")
    }
}
