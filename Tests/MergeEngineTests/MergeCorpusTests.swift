import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Tiny checkpoints of many families as transformers' `save_pretrained` writes them, merged by
/// Crucible and compared with mergekit 0.1.5's merges of the same files (Fixtures/corpus, made
/// by scripts/make-merge-corpus): the same tensor names and shapes, values within
/// 1e-5 + 1e-4·|mergekit's| (Float32), and the same layer counts in config.json.
@Suite struct MergeCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/corpus").path

    /// (family, method, outcome) for every case of manifest.json.
    static let cases: [(family: String, method: String, outcome: String)] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let families = json["cases"] as? [String: [String: [String: String]]] else { return [] }
        return families.keys.sorted().flatMap { family in
            families[family]!.keys.sorted().map { (family, $0, families[family]![$0]!["outcome"] ?? "") }
        }
    }()

    /// Configs from mergekit's examples and public model cards (manifest.json "configs": each
    /// with its source), rewritten to the llama models: name → outcome.
    static let configs: [String: String] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let configs = json["configs"] as? [String: [String: String]] else { return [:] }
        return configs.mapValues { $0["outcome"] ?? "" }
    }()

    @Test("the corpus has every family and method the generator makes")
    func corpusIsComplete() {
        let families = Set(Self.cases.map(\.family))
        #expect(families.count >= 14, "\(families.sorted())")
        #expect(Set(Self.cases.map(\.method)) == ["linear", "task_arithmetic", "ties", "slerp", "passthrough"])
    }

    /// Cases where mergekit 0.1.5's output is itself wrong: its qwen2_moe frankenmerge writes
    /// three layers but leaves `num_hidden_layers` at 2, with the final norm and head of the
    /// first slice (for every other family, and in Crucible, they come from the last). Crucible's
    /// output loads in transformers with three layers (opt-in check in `merge`).
    static let mergekitWrong: Set<String> = ["qwen2_moe/passthrough"]

    /// Merges the case's config.yml with Crucible into a temporary folder. Opt-in
    /// (CRUCIBLE_EVAL_PYTHON: a python with torch and transformers): a passthrough output
    /// (a frankenmerge: layers added) loads in transformers and runs a forward pass.
    func merge(_ name: String) throws -> String {
        let text = try String(contentsOfFile: Self.root + "/" + name + "/config.yml", encoding: .utf8)
        let config = try ConfigParser.parse(text, source: name + "/config.yml")
        let plan = try Planner.plan(config, source: name + "/config.yml", options: PlanOptions(workingDirectory: Self.root))
        let output = TemporaryFolder.path("corpus")
        _ = try MergeRunner.run(plan, to: output, options: MergeOptions(threads: 2, seed: 0))
        if name.hasSuffix("/passthrough"), let python = ProcessInfo.processInfo.environment["CRUCIBLE_EVAL_PYTHON"] {
            let load = try ProcessRunner.run(python, ["-c", """
                import sys, torch, transformers
                model = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
                logits = model(input_ids=torch.tensor([[1, 5, 7, 9]])).logits
                print("layers", model.config.num_hidden_layers, "finite", bool(torch.isfinite(logits).all()))
                """, output])
            #expect(load.status == 0 && load.stdout.contains("layers 3 finite True"), "\(name) in transformers: \(load.stdout) \(load.stderr.suffix(600))")
        }
        return output
    }

    @Test("Crucible's merge matches mergekit's", arguments: cases.filter { $0.outcome == "ok" }.map { "\($0.family)/\($0.method)" })
    func matchesMergekit(_ name: String) throws {
        let output = try merge(name)
        if Self.mergekitWrong.contains(name) {
            withKnownIssue("mergekit 0.1.5's output is wrong here") { try compare(name, output) }
        } else {
            try compare(name, output)
        }
    }

    /// Real configs: the same tensors and shapes as mergekit's output and, for deterministic
    /// methods, at least 95% of all values within one unit in the last place of the config's
    /// dtype. The rest differ because mergekit rounds every intermediate to that dtype (and so
    /// also ranks top-k magnitudes rounded, with more ties) while Crucible computes in Float32
    /// and rounds once (docs/methods.md; `--numerics mergekit` is not built yet). Random
    /// methods (DARE) draw other masks than torch's generator: values are not compared.
    @Test("real configs from mergekit's examples and model cards merge as mergekit merges them",
          arguments: configs.filter { $0.value == "ok" }.keys.sorted())
    func realConfig(_ name: String) throws {
        #expect(Self.configs.count >= 8)
        let output = try merge("configs/" + name)
        let folder = Self.root + "/configs/" + name
        let text = try String(contentsOfFile: folder + "/config.yml", encoding: .utf8)
        let random = text.contains("merge_method: dare") || text.contains("merge_method: della")
        let relative: Float = text.contains("dtype: float16") ? 0x1p-10 : text.contains("dtype: bfloat16") ? 0x1p-7 : 1e-4
        let want = try CheckpointContents.floats(folder), got = try CheckpointContents.floats(output)
        #expect(got.keys.sorted() == want.keys.sorted(), "tensor names")
        var close = 0, total = 0
        for (tensor, values) in want.sorted(by: { $0.key < $1.key }) {
            guard let ours = got[tensor] else { continue }
            #expect(ours.count == values.count, "\(tensor): \(ours.count) values, mergekit \(values.count)")
            close += zip(values, ours).filter { w, g in abs(g - w) <= 1e-6 + relative * abs(w) }.count
            total += values.count
        }
        let valuesClose = { #expect(total > 0 && Double(close) >= 0.95 * Double(total), "\(total - close) of \(total) values differ by more than one unit in the last place") }
        func dtypes(_ path: String) throws -> Set<DType> {
            let checkpoint = try Checkpoint(path: path)
            return Set(checkpoint.tensorNames.compactMap { checkpoint.info($0)?.dtype })
        }
        let (theirs, ours) = (try dtypes(folder), try dtypes(output))
        if name.hasSuffix("arcee_fusion") {
            // mergekit computes the importance and the difference in the dtype and adds them with
            // a float32 mask: float32 output of bfloat16-rounded operands, and ~11% of the values
            // more than a bfloat16 ulp from Crucible's.
            withKnownIssue("mergekit 0.1.5's arcee_fusion writes float32 of values rounded on the way; Crucible computes in Float32 and writes the dtype") {
                valuesClose()
                #expect(theirs == ours)
            }
        } else {
            if !random { valuesClose() }
            #expect(theirs == ours, "output dtypes")
        }
    }

    func compare(_ name: String, _ output: String) throws {
        let folder = Self.root + "/" + name
        try expectClose(output, to: folder)
        let theirs = try configJSON(folder), ours = try configJSON(output)
        for key in Self.layerCountKeys where theirs[key] != nil {
            #expect(ours[key] as? Int == theirs[key] as? Int, "config.json \(key)")
        }
    }

    /// Keys that hold a model's layer count in config.json, by family.
    static let layerCountKeys = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"]

    func configJSON(_ folder: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? [String: Any] ?? [:]
    }

    /// The same tensor names as `reference` (a folder or file), every value within
    /// 1e-5 + 1e-4·|reference's|.
    func expectClose(_ output: String, to reference: String) throws {
        let want = try CheckpointContents.floats(reference), got = try CheckpointContents.floats(output)
        #expect(got.keys.sorted() == want.keys.sorted(), "tensor names")
        for (tensor, values) in want.sorted(by: { $0.key < $1.key }) {
            guard let ours = got[tensor] else { continue }
            let off = zip(values, ours).filter { w, g in !(abs(g - w) <= 1e-5 + 1e-4 * abs(w)) }.count
            #expect(ours.count == values.count && off == 0, "\(tensor): \(off) of \(values.count) values differ")
        }
    }

    /// Where mergekit 0.1.5 fails on a valid checkpoint (its architecture files predate these
    /// transformers 5 checkpoints, or its passthrough leaves `layer_types` one entry per input
    /// layer), Crucible's output is checked against reference.safetensors: the merge computed in
    /// Float64 with numpy by scripts/make-merge-corpus (which agrees with mergekit's outputs
    /// wherever mergekit works, within a tenth of this tolerance).
    @Test("where mergekit fails, Crucible matches a Float64 computation",
          arguments: cases.filter { $0.outcome != "ok" }.map { "\($0.family)/\($0.method)" })
    func matchesFloat64Reference(_ name: String) throws {
        let output = try merge(name)
        try expectClose(output, to: Self.root + "/" + name + "/reference.safetensors")
        if name.hasSuffix("/passthrough") {
            let config = try configJSON(output)
            let layers = Self.layerCountKeys.compactMap { config[$0] as? Int }.first
            #expect(layers == 3, "config.json layer count")
            if let types = config["layer_types"] as? [String] { #expect(types.count == 3, "layer_types \(types)") }
        }
    }
}
