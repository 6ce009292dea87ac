import ClusterRuntime
import Foundation
import Testing
import TensorIO
import TestSupport

/// The `crucible` executable as a user meets it: exit codes, messages, help, JSON output.
@Suite struct CLITests {
    /// Runs the built `crucible` with `arguments` in `directory` (the repository by default).
    func run(_ arguments: [String], in directory: String = Fixtures.repository, timeout: Double = 90) throws -> ProcessResult {
        try CrucibleBinary.run(arguments, in: directory, timeout: timeout)
    }

    /// A path inside a fresh temporary folder (the path itself does not exist).
    func temporaryPath(_ name: String) -> String { TemporaryFolder.path(name, label: "cli") }

    @Test func versionNamesTheLinkedLibraries() throws {
        let r = try run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("crucible 0.1.0 (libzmq 4.3."))
        #expect(r.stdout.contains("liblz4 1.9."))
    }

    @Test func helpListsTheCommands() throws {
        let r = try run(["--help"])
        #expect(r.status == 0)
        for command in ["merge", "methods", "inspect"] { #expect(r.stdout.contains(command)) }
        let merge = try run(["merge", "--help"])
        for option in ["--threads", "--random-seed", "--out-shard-size", "--dry-run", "--allow-crimes", "Examples:"] {
            #expect(merge.stdout.contains(option), "merge --help mentions \(option)")
        }
    }

    @Test func mergeWritesAFolderAndSummarises() throws {
        let out = temporaryPath("out")
        let r = try run(["merge", "cases/ties/config.yml", out, "-j", "2"], in: Fixtures.golden)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Merged 39 tensors with ties from 4 models"))
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
    }

    @Test func dryRunShowsThePlanAndWritesNothing() throws {
        let out = temporaryPath("out")
        let r = try run(["merge", "cases/ties/config.yml", out, "--dry-run"], in: Fixtures.golden)
        #expect(r.status == 0)
        #expect(r.stdout.contains("tensors:       39 (4 layers)"))
        #expect(r.stdout.contains("bytes to read:"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("differing vocabularies: exit 1 naming --unsafe-truncate-embeddings; with it, a warning and the common rows")
    func vocabularyTruncationFlag() throws {
        let root = TemporaryFolder.make("cli-vocabulary")
        for (name, rows) in [("x", 5), ("y", 6)] {
            _ = try CheckpointBuilder.write(root, name, [("model.embed_tokens.weight", [rows, 4], (0..<(rows * 4)).map { Float($0) }),
                                                         ("model.norm.weight", [4], [1, 1, 1, 1])])
        }
        try "models: [{model: x, parameters: {weight: 0.5}}, {model: y, parameters: {weight: 0.5}}]\nmerge_method: linear\n"
            .write(toFile: root + "/config.yml", atomically: true, encoding: .utf8)
        let refused = try run(["merge", "config.yml", "out", "-q"], in: root)
        #expect(refused.status == 1 && refused.stderr.contains("vocabulary sizes differ") && refused.stderr.contains("--unsafe-truncate-embeddings"),
                "\(refused.stderr)")
        let planned = try run(["merge", "config.yml", "out", "--dry-run", "--unsafe-truncate-embeddings"], in: root)
        #expect(planned.status == 0 && planned.stdout.contains("vocabulary:    5 token rows (cut"), "\(planned.stdout)")
        let merged = try run(["merge", "config.yml", "out", "-q", "--unsafe-truncate-embeddings"], in: root)
        #expect(merged.status == 0 && merged.stderr.contains("warning: tensor model.embed_tokens.weight: UNSAFE vocabulary truncation"), "\(merged.stderr)")
        #expect(try CheckpointContents.floats(root + "/out", "model.embed_tokens.weight") == (0..<20).map { Float($0) })
    }

    @Test("--numerics mergekit: mergekit's bfloat16 linear merge of the corpus, byte for byte; without it, Crucible's own rounding")
    func numericsFlag() throws {
        let corpus = Fixtures.repository + "/Tests/MergeEngineTests/Fixtures/corpus"
        let config = "configs/mergekit-tests-linear/config.yml", mergekit = corpus + "/configs/mergekit-tests-linear"
        let emulated = temporaryPath("numerics-mergekit"), own = temporaryPath("numerics-crucible")
        let a = try run(["merge", config, emulated, "-q", "--numerics", "mergekit"], in: corpus)
        let b = try run(["merge", config, own, "-q"], in: corpus)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        #expect(try CheckpointContents.bytes(emulated) == CheckpointContents.bytes(mergekit))
        #expect(try CheckpointContents.bytes(own) != CheckpointContents.bytes(mergekit))
        let wrong = try run(["merge", config, temporaryPath("numerics-bad"), "--numerics", "torch"], in: corpus)
        #expect(wrong.status != 0 && wrong.stderr.contains("crucible") && wrong.stderr.contains("mergekit"), "\(wrong.stderr)")
    }

    @Test func configErrorsExitNonZeroWithEveryProblem() throws {
        let config = temporaryPath("bad.yml")
        try """
            models:
              - model: models/ft0
                parameters: {weigth: 1}
              - model: models/missing
            merge_method: ties
            base_model: models/base
            tokenizer: {source: union, pad_to_multiple_of: 0}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let out = temporaryPath("out")
        let r = try run(["merge", config, out], in: Fixtures.golden)
        #expect(r.status == 1)
        #expect(r.stderr.contains("tokenizer.pad_to_multiple_of"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }

    @Test func existingOutputFolderIsRefused() throws {
        let out = temporaryPath("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try run(["merge", "cases/linear/config.yml", out], in: Fixtures.golden)
        #expect(r.status == 1)
        #expect(r.stderr.contains("already exists"))
    }

    @Test func inspectJSONDescribesTheCheckpoint() throws {
        let r = try run(["inspect", Fixtures.golden + "/models/base", "--json"])
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["tensors"] as? [Any])?.count == 39)
        #expect(json["layers"] as? Int == 4)
        #expect(json["architecture"] as? String == "LlamaForCausalLM")
        #expect(json["parameters"] as? Int == 80304)
    }

    @Test func inspectNamesTheMalformedFile() throws {
        let path = temporaryPath("broken.safetensors")
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x7B]).write(to: URL(fileURLWithPath: path))
        let r = try run(["inspect", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains(path))
        #expect(r.stderr.contains("exceeds the 100 MB limit"))
    }

    @Test func methodsListsEveryMethodAndRejectsUnknownOnes() throws {
        let r = try run(["methods"])
        #expect(r.status == 0)
        for name in ["linear", "ties", "dare_ties", "della_linear", "nuslerp", "karcher", "ramplus_tl", "arcee_fusion"] {
            #expect(r.stdout.contains("\n\(name)") || r.stdout.hasPrefix(name))
        }
        let bad = try run(["methods", "tie"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unknown method \"tie\""))
    }

    @Test func keygenWritesKeysAndRefusesToOverwrite() throws {
        let dir = temporaryPath("keys")
        let first = try run(["keygen", dir])
        #expect(first.status == 0)
        #expect(first.stdout.contains("public key: "))
        let publicKey = try String(contentsOfFile: dir + "/key.public", encoding: .utf8)
        #expect(publicKey.count == 41)
        let again = try run(["keygen", dir])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: dir + "/key.public", encoding: .utf8) == publicKey)
        #expect(try run(["keygen", dir, "--force"]).status == 0)
        // Missing parent folders are created, as in the README's `crucible keygen keys/coordinator`.
        let nested = temporaryPath("keys") + "/cluster/w1"
        #expect(try run(["keygen", nested]).status == 0)
        #expect(FileManager.default.fileExists(atPath: nested + "/key.secret"))
    }

    @Test func pruneDropsLayersAndReportsErrors() throws {
        let out = temporaryPath("pruned")
        let r = try run(["prune", Fixtures.golden + "/models/base", out, "--drop-layers", "3,2", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let inspect = try run(["inspect", out, "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        #expect(json["layers"] as? Int == 2)
        let bad = try run(["prune", Fixtures.golden + "/models/base", temporaryPath("x"), "--drop-layers", "7"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("out of range"))
        let usage = try run(["prune", Fixtures.golden + "/models/base", temporaryPath("y"), "--scores", "s.json"])
        #expect(usage.status != 0)
        #expect(usage.stderr.contains("--drop"))
    }

    @Test("--log-format json writes one JSON object per line, ending with a report of every worker")
    func jsonLogs() throws {
        let out = temporaryPath("json")
        let r = try run(["merge", "examples/linear.yml", out, "--local-workers", "2", "--log-format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        let objects = try lines.map { try JSONParser.parse(String($0)) }
        #expect(objects.allSatisfy { $0.objectValue?["event"]?.stringValue != nil && $0.objectValue?["time"] != nil })
        let report = try #require(objects.last?.objectValue)
        #expect(report["event"]?.stringValue == "report")
        let workers = report["workers"]?.arrayValue ?? []
        #expect(workers.count == 2)
        let tasks = workers.compactMap { $0.objectValue?["tasks"]?.int64Value }.reduce(0, +)
        #expect(tasks == report["tasks"]?.int64Value)
    }

    @Test("a run interrupted with SIGINT exits 130 and says how to resume")
    func interruptedRun() throws {
        let out = temporaryPath("stopped")
        // Remote-only with no worker: the coordinator waits until the signal arrives.
        let process = try LaunchedProcess(["merge", "examples/linear.yml", out, "--listen", "tcp://127.0.0.1:0", "--local-workers", "0"],
                                          in: Fixtures.repository, separateErrors: true)
        Thread.sleep(forTimeInterval: 0.5)
        process.signal(SIGINT)
        let status = process.wait()
        let stderr = process.errors
        #expect(status == 130, "\(stderr)")
        #expect(stderr.contains("--resume"), "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: out + ".partial/.crucible-journal"))
    }

    @Test("-j 0 is refused by every command that computes")
    func zeroThreadsAreRefused() throws {
        let commands: [[String]] = [["merge", "examples/linear.yml", temporaryPath("m")],
                                    ["prune", "examples/models/base", temporaryPath("p"), "--drop-layers", "1"],
                                    ["sweep", "examples/models/base", "--out", temporaryPath("s"), "--sigmas", "1e-3", "--seeds", "0"],
                                    ["analyze", "--base", "examples/models/base", "examples/models/ft1"]]
        for command in commands {
            let r = try run(command + ["-j", "0"])
            #expect(r.status == 64 && r.stderr.contains("--threads must be at least 1"), "\(command[0]): \(r.stderr)")
        }
    }

    @Test("a worker computes one task per 4 threads, at least 2, unless told; --concurrent-tasks outside 1...threads is refused")
    func concurrentTasks() throws {
        #expect(WorkerOptions(endpoint: "tcp://h:1", threads: 16, kinds: []).tasksAtOnce == 4)
        #expect(WorkerOptions(endpoint: "tcp://h:1", threads: 2, kinds: []).tasksAtOnce == 2)
        #expect(WorkerOptions(endpoint: "tcp://h:1", threads: 1, kinds: []).tasksAtOnce == 1)
        var options = WorkerOptions(endpoint: "tcp://h:1", threads: 4, kinds: [])
        options.concurrentTasks = 3
        #expect(options.tasksAtOnce == 3)
        for bad in ["0", "5"] {
            let r = try run(["worker", "--connect", "tcp://127.0.0.1:1", "-j", "4", "--concurrent-tasks", bad])
            #expect(r.status != 0 && r.stderr.contains("--concurrent-tasks must be between 1 and the thread count (4)"), "\(bad): \(r.stderr)")
        }
    }
}

extension CLITests {
    @Test("a merge or sweep config that is a FIFO or a device is refused at once, saying what it is")
    func configThatIsNotAFile() throws {
        let fifo = temporaryPath("config.yml")
        try #require(mkfifo(fifo, 0o600) == 0)
        for command in ["merge", "sweep"] {
            let arguments = command == "merge" ? ["merge", fifo, temporaryPath("out")] : ["sweep", fifo]
            let r = try run(arguments, timeout: 20)
            #expect(r.status == 1 && r.stderr.contains("\(fifo): cannot read the config: cannot open: it is a FIFO (named pipe), not a regular file"),
                    "\(command): \(r.status.map(String.init) ?? "killed after 20 s") \(r.stderr)")
        }
        let r = try run(["merge", "/dev/zero", temporaryPath("out")], timeout: 20)
        #expect(r.status == 1 && r.stderr.contains("/dev/zero: cannot read the config: cannot open: it is a character device, not a regular file"), "\(r.stderr)")
    }
}
