import Foundation
import JobModel
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

    /// Half-precision configs written for `--numerics mergekit` (manifest.json "numerics"), each
    /// exercising steps of mergekit's arithmetic the real configs leave out.
    static let numerics: [String] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let numerics = json["numerics"] as? [String: Any] else { return [] }
        return numerics.keys.sorted()
    }()

    @Test("the corpus has every family and method the generator makes")
    func corpusIsComplete() {
        let families = Set(Self.cases.map(\.family))
        #expect(families.count >= 14, "\(families.sorted())")
        #expect(Set(Self.cases.map(\.method)) == ["linear", "task_arithmetic", "ties", "slerp", "passthrough"])
        #expect(Self.numerics.count >= 5, "\(Self.numerics)")
    }

    /// Cases where mergekit 0.1.5's output is itself wrong: its qwen2_moe frankenmerge writes
    /// three layers but leaves `num_hidden_layers` at 2, with the final norm and head of the
    /// first slice (for every other family, and in Crucible, they come from the last). Crucible's
    /// output loads in transformers with three layers (opt-in check in `merge`).
    static let mergekitWrong: Set<String> = ["qwen2_moe/passthrough"]

    /// Merges the case's config.yml with Crucible into a temporary folder. Opt-in
    /// (CRUCIBLE_EVAL_PYTHON: a python with torch and transformers): a passthrough output
    /// (a frankenmerge: layers added) loads in transformers and runs a forward pass.
    func merge(_ name: String, numerics: MergeNumerics = .crucible) throws -> String {
        let text = try String(contentsOfFile: Self.root + "/" + name + "/config.yml", encoding: .utf8)
        let output = TemporaryFolder.path("corpus")
        // mergekit-multi's format: the stages in order, as `crucible merge` runs them.
        let stages = try MergeStages(try ConfigParser.parseDocuments(text, source: name + "/config.yml"), output: output,
                                     intermediateDirectory: output + ".stages")
        for stage in stages.stages {
            let plan = try Planner.plan(stage.config, source: name + "/config.yml", options: PlanOptions(workingDirectory: Self.root))
            _ = try MergeRunner.run(plan, to: stage.output, options: MergeOptions(threads: 2, seed: 0, numerics: numerics))
        }
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

    /// Real configs: the same tensor names, shapes and dtypes as mergekit's output and, for
    /// deterministic methods, every value within one unit in the last place (of the output's
    /// dtype) of mergekit's merge of the same config in float32 (`float32/` beside a half
    /// precision config): Crucible computes in Float32 and rounds once. Against mergekit's own
    /// half-precision output, methods whose mergekit code rounds once per operation (linear,
    /// task_arithmetic, ties, slerp, passthrough) have at least 95% of values within one ulp;
    /// the rest differ because mergekit rounds every intermediate to the dtype (and ranks
    /// top-k magnitudes rounded, with more ties). Methods built on norms, angles and iterations
    /// in the dtype (nuslerp, multislerp, karcher, model_stock, ram...) move further, and
    /// only the float32 comparison holds them. Random methods (DARE, DELLA) draw other masks
    /// than torch's generator: their values are not compared.
    @Test("real configs from mergekit's examples, docs, tests and model cards merge as mergekit merges them",
          arguments: configs.filter { $0.value == "ok" }.keys.sorted())
    func realConfig(_ name: String) throws {
        #expect(Self.configs.count >= 30)
        let output = try merge("configs/" + name)
        let folder = Self.root + "/configs/" + name
        let text = try String(contentsOfFile: folder + "/config.yml", encoding: .utf8)
        // The final document's method (a multi-document config lists the stages first).
        let method = text.components(separatedBy: "merge_method: ").last!.prefix { !$0.isWhitespace }
        func dtypes(_ path: String) throws -> Set<DType> {
            let checkpoint = try Checkpoint(path: path)
            return Set(checkpoint.tensorNames.compactMap { checkpoint.info($0)?.dtype })
        }
        let ours = try dtypes(output)
        #expect(try dtypes(folder) == ours, "output dtypes")
        let ulp: Float = ours == [.f16] ? 0x1p-10 : ours == [.bf16] ? 0x1p-7 : 1e-4
        let got = try CheckpointContents.floats(output)
        /// How many values are within one ulp of `reference`'s, of how many.
        func close(to reference: String) throws -> (close: Int, total: Int) {
            let want = try CheckpointContents.floats(reference)
            #expect(got.keys.sorted() == want.keys.sorted(), "tensor names")
            var close = 0, total = 0
            for (tensor, values) in want {
                guard let ours = got[tensor] else { continue }
                #expect(ours.count == values.count, "\(tensor): \(ours.count) values, mergekit \(values.count)")
                close += zip(values, ours).filter { w, g in abs(g - w) <= 1e-6 + ulp * abs(w) }.count
                total += values.count
            }
            return (close, total)
        }
        let own = try close(to: folder)
        if FileManager.default.fileExists(atPath: folder + "/tokenizer.json") {
            // A tokenizer merge: the same tokens at the same ids (mergekit appends tokens in a
            // hash map's order; here they come from one model's added tokens, in id order) and
            // the same vocab_size in config.json.
            #expect(try Self.vocabulary(output) == Self.vocabulary(folder), "output vocabulary")
            #expect(try configJSON(output)["vocab_size"] as? Int == configJSON(folder)["vocab_size"] as? Int, "config.json vocab_size")
        }
        guard !["dare_ties", "dare_linear", "della", "della_linear"].contains(method) else { return }
        let precise = FileManager.default.fileExists(atPath: folder + "/float32") ? folder + "/float32" : folder
        let exact = try close(to: precise)
        #expect(exact.total > 0 && exact.close == exact.total,
                "\(exact.total - exact.close) of \(exact.total) values are more than one ulp from mergekit's float32 merge")
        if ["linear", "task_arithmetic", "ties", "slerp", "passthrough"].contains(method) {
            #expect(Double(own.close) >= 0.95 * Double(own.total),
                    "\(own.total - own.close) of \(own.total) values are more than one ulp from mergekit's own output")
        }
    }

    /// `--numerics mergekit` on the half-precision configs whose method it reproduces (linear,
    /// slerp, the task-arithmetic family without random masks) and on the `numerics` configs:
    /// mergekit's own output, bit for bit.
    @Test("--numerics mergekit: half-precision configs of linear, slerp, task_arithmetic, ties and breadcrumbs give mergekit's own bytes",
          arguments: configs.filter { $0.value == "ok" }.keys.sorted().filter { name in
              let text = (try? String(contentsOfFile: root + "/configs/" + name + "/config.yml", encoding: .utf8)) ?? ""
              return ["linear", "slerp", "task_arithmetic", "ties", "breadcrumbs"].contains { text.contains("merge_method: \($0)\n") }
                  && !text.contains("\n---") && (text.contains("dtype: bfloat16") || text.contains("dtype: float16"))
          }.map { "configs/" + $0 } + numerics.map { "numerics/" + $0 })
    func mergekitNumerics(_ name: String) throws {
        let output = try merge(name, numerics: .mergekit)
        let want = try CheckpointContents.bytes(Self.root + "/" + name), got = try CheckpointContents.bytes(output)
        #expect(got.keys.sorted() == want.keys.sorted())
        let differing = want.filter { got[$0.key] != $0.value }.keys.sorted()
        if name == "configs/mergekit-tests-slerp" {
            // One element: mergekit's slerp angle comes from torch's Float32 norms and dot (its own
            // vectorised summation order, chunked by how mergekit batches tensors) and from torch's
            // acos and sin (Intel MKL's vsAcos, vsSin: not correctly rounded), Crucible's from
            // Float64 sums; here the dot is 0.96314496 against 0.96314484, and t's coefficient
            // 0.35382777 against 0.35382783, a last bit that one element's rounding sees.
            withKnownIssue("mergekit's slerp coefficients (torch's Float32 reductions, MKL's acos and sin) are not reproduced to the last bit") {
                #expect(differing.isEmpty, "\(differing.count) tensors differ from mergekit's, first \(differing.first ?? "")")
            }
        } else {
            #expect(differing.isEmpty, "\(differing.count) tensors differ from mergekit's, first \(differing.first ?? "")")
        }
    }

    /// breadcrumbs where `int(gamma·N) = 0` (ft2's gamma 0.05 on the 16-element norms): mergekit
    /// 0.1.5 keeps the `int(density·N)` largest there (its repository code kept nothing, and the
    /// norms then moved by up to 0.018): within one bfloat16 ulp of mergekit's output, plus 1e-4
    /// where mergekit's ranking of rounded magnitudes keeps another of two near-equal entries.
    @Test("breadcrumbs keeps the int(density·N) largest where no outlier is dropped, as mergekit 0.1.5 does")
    func breadcrumbsWithoutOutliers() throws {
        let output = try merge("numerics/breadcrumbs-bf16")
        let want = try CheckpointContents.floats(Self.root + "/numerics/breadcrumbs-bf16"), got = try CheckpointContents.floats(output)
        let norms = want.filter { $0.value.count == 16 }
        #expect(norms.count == 5)
        for (name, values) in norms {
            let ours = got[name] ?? []
            #expect(ours.count == 16 && zip(values, ours).allSatisfy { w, g in abs(g - w) <= abs(w) * 0x1p-7 + 1e-4 }, "\(name): \(ours) against \(values)")
        }
    }

    /// Configs mergekit refuses (its error in manifest.json): Crucible refuses them too, when
    /// the plan is made, naming the parameter.
    @Test("configs mergekit refuses are refused when the plan is made", arguments: configs.filter { $0.value != "ok" }.keys.sorted())
    func refusedConfig(_ name: String) throws {
        let text = try String(contentsOfFile: Self.root + "/configs/" + name + "/config.yml", encoding: .utf8)
        #expect(throws: ProblemList.self) {
            let config = try ConfigParser.parse(text, source: name)
            _ = try Planner.plan(config, source: name, options: PlanOptions(workingDirectory: Self.root))
        }
    }

    /// Token → id of the tokenizer.json in `folder`, added tokens included.
    static func vocabulary(_ folder: String) throws -> [String: Int] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/tokenizer.json"))) as? [String: Any]
        var ids = (json?["model"] as? [String: Any])?["vocab"] as? [String: Int] ?? [:]
        for token in json?["added_tokens"] as? [[String: Any]] ?? [] {
            if let content = token["content"] as? String, let id = token["id"] as? Int { ids[content] = id }
        }
        return ids
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
