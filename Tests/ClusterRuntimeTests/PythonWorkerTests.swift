import Foundation
import Testing
import TensorIO
import TestSupport

/// docs/protocol.md is the wire: a worker written in Python from the document alone
/// (`Support/python_worker.py`: pyzmq and numpy, raw payloads only) serves a coordinator
/// started by `crucible merge --listen --local-workers 0`, and the merge it completes is
/// byte-identical to the embedded one.
@Suite(.serialized) struct PythonWorkerTests {
    static let script = Fixtures.repository + "/Tests/ClusterRuntimeTests/Support/python_worker.py"
    static let skipReason: Comment = "needs a python3 with pyzmq and numpy (Debian: apt-get install python3-zmq python3-numpy; scripts/bootstrap)"

    /// The golden models stored as BF16 (ft0), F16 (ft1) and F32 (ft2), in a fresh folder.
    static func mixedModels() throws -> String {
        let root = TemporaryFolder.make("python-worker-models")
        for (name, dtype) in [("ft0", DType.bf16), ("ft1", .f16), ("ft2", .f32)] {
            let source = try Checkpoint(path: "\(Fixtures.goldenModels)/\(name)")
            let tensors = try source.tensorNames.map { tensor in
                let view = try source.tensor(tensor)
                defer { view.release() }
                return (tensor, view.shape, try view.float32())
            }
            let config = try String(contentsOfFile: "\(Fixtures.goldenModels)/\(name)/config.json", encoding: .utf8)
            try CheckpointBuilder.write(root, name, tensors, dtype: dtype, files: [("config.json", config)])
        }
        return root
    }

    /// A config for `case`: the golden linear merge (F32 in and out), or the mixed-dtype models
    /// merged into BF16 with weights whose sum is not 1 (so the normalising product runs too).
    static func config(_ name: String) throws -> String {
        if name == "golden-f32" { return "\(Fixtures.golden)/cases/linear/config.yml" }
        if name == "mixtral" {
            // Experts read fused (`parts`: several TASK inputs make one input).
            let corpus = Fixtures.repository + "/Tests/MergeEngineTests/Fixtures/corpus/mixtral"
            let path = Harness.output("python-mixtral") + ".yml"
            try "models:\n  - {model: \(corpus)/ft1, parameters: {weight: 0.6}}\n  - {model: \(corpus)/ft2, parameters: {weight: 0.4}}\nmerge_method: linear\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        if name == "tokenizer-union" {
            // Embeddings and heads laid out in a merged vocabulary (`vocabulary`): own rows, rows
            // only one model has, a forced row and padding rows.
            let corpus = Fixtures.repository + "/Tests/MergeEngineTests/Fixtures/corpus/tokenizers"
            let path = Harness.output("python-tokenizer") + ".yml"
            try """
                models:
                  - {model: \(corpus)/base, parameters: {weight: 0.5}}
                  - {model: \(corpus)/chatml, parameters: {weight: 0.3}}
                  - {model: \(corpus)/padded, parameters: {weight: 0.2}}
                merge_method: linear
                tokenizer:
                  source: union
                  tokens: {_tok_7: {source: \(corpus)/chatml, force: true}}
                  pad_to_multiple_of: 32
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let models = try mixedModels()
        let yaml = """
            models:
              - {model: \(models)/ft0, parameters: {weight: 0.7}}
              - {model: \(models)/ft1, parameters: {weight: 0.45}}
              - {model: \(models)/ft2, parameters: {weight: 0.15}}
            merge_method: linear
            dtype: bfloat16
            """
        let path = Harness.output("python-config") + ".yml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a Python worker written from docs/protocol.md completes a linear merge byte-identical to the embedded one",
          .enabled(if: Python.withZMQ != nil, skipReason),
          arguments: [("golden-f32", false), ("mixed-bf16", false), ("mixed-bf16", true), ("mixtral", false), ("mixtral", true),
                      ("tokenizer-union", false), ("tokenizer-union", true)])
    func linearMerge(_ name: String, shipped: Bool) throws {
        let python = try #require(Python.withZMQ)
        let config = try Self.config(name)
        let embedded = Harness.output("embedded"), clustered = Harness.output("python")
        let reference = try Harness.crucible(["merge", config, embedded, "-q"])
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        // The mixed cases use 4 KiB chunks: every part and shipped input spans several, the last one short.
        let chunks = name == "mixed-bf16" ? ["--chunk-bytes", "4096"] : []
        let coordinator = try Harness.launch(["merge", config, clustered, "--listen", endpoint, "--local-workers", "0"] + chunks)
        let worker = try Harness.launch([Self.script, "--connect", endpoint] + (shipped ? ["--no-shared-storage"] : []), executable: python)
        #expect(coordinator.wait() == 0, "coordinator: \(coordinator.output)\nworker: \(worker.output)")
        #expect(worker.wait(10) == 0, "the worker exits 0 on SHUTDOWN: \(worker.output)")
        let expected = try Harness.tensors(embedded), actual = try Harness.tensors(clustered)
        #expect(!expected.isEmpty && actual == expected, "\(name): the Python worker's bytes differ from the embedded merge's")
        #expect(coordinator.output.contains(shipped ? "gets inputs shipped (--no-shared-storage)" : "reads the inputs itself"),
                "\(coordinator.output)")
        #expect(!coordinator.output.contains("dropped") && !coordinator.output.contains("rejected"), "\(coordinator.output)")
    }

    @Test("the Python worker refuses a method it cannot compute with ERROR unsupported and exits non-zero",
          .enabled(if: Python.withZMQ != nil, skipReason))
    func refusesOtherMethods() throws {
        let python = try #require(Python.withZMQ)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", try Harness.config("ties"), Harness.output("ties"), "--listen", endpoint, "--local-workers", "0"])
        defer { coordinator.kill() }
        let worker = try Harness.launch([Self.script, "--connect", endpoint], executable: python)
        #expect(worker.wait(30) == 3, "\(worker.output)")
        #expect(worker.output.contains("linear merges only, not ties"), "\(worker.output)")
        #expect(coordinator.waitForOutput(containing: "reports unsupported: this worker computes linear merges only"), "\(coordinator.output)")
    }
}
