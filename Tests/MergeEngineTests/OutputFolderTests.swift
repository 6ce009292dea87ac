import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// What lands in the output folder: layer renumbering, config.json, shards and index,
/// tokenizer files, the model card, dtype rounding, and nothing at all after a failure.
@Suite struct OutputFolderTests {
    let examples = Fixtures.golden

    @Test("a frankenmerge renumbers layers and copies their bytes unchanged")
    func frankenmergeRenumbers() throws {
        let out = try GoldenFixtures.merge(try GoldenFixtures.configText("passthrough_frankenmerge"))
        let merged = try Checkpoint(path: out)
        #expect(merged.detectedLayerCount == 6)
        #expect(merged.config?["num_hidden_layers"]?.int64Value == 6)
        let ft1 = try Checkpoint(path: Fixtures.golden + "/models/ft1")
        // Output layer 3 is ft1's layer 1 (second slice: layers 1..<4 of ft1).
        let got = try merged.tensor("model.layers.3.mlp.up_proj.weight").bytes
        let want = try ft1.tensor("model.layers.1.mlp.up_proj.weight").bytes
        #expect(Array(got) == Array(want))
    }

    @Test("a small shard budget gives numbered shards and an index that reads back identically")
    func shardedOutput() throws {
        let text = try GoldenFixtures.configText("linear")
        let single = try GoldenFixtures.merge(text)
        let plan = try GoldenFixtures.plan(text)
        let sharded = TemporaryFolder.path("sharded")
        _ = try MergeRunner.run(plan, to: sharded, options: MergeOptions(threads: 2, shardBudget: 100_000))
        let files = try FileManager.default.contentsOfDirectory(atPath: sharded)
        #expect(files.contains("model.safetensors.index.json"))
        #expect(files.contains { $0.hasPrefix("model-00001-of-0000") })
        #expect(!files.contains("model.safetensors"))
        #expect(try CheckpointContents.bytes(sharded) == CheckpointContents.bytes(single))
    }

    @Test("a tokenizer file linking out of the model folder stops the merge before any work, leaving nothing")
    func tokenizerLinkOutStopsTheMergeEarly() throws {
        let root = TemporaryFolder.make("models")
        let tensors: [(String, [Int], [Float])] = [("model.layers.0.w", [4], [1, 2, 3, 4])]
        try TestModels.write(root, "base", tensors)
        try TestModels.write(root, "ft", [("model.layers.0.w", [4], [2, 2, 2, 2])])
        try "secret\n".write(toFile: root + "/outside.json", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/base/tokenizer.json", withDestinationPath: "../outside.json")
        let yaml = "models: [{model: ft, parameters: {weight: 1}}]\nmerge_method: task_arithmetic\nbase_model: base\n"
        let plan = try Planner.plan(try ConfigParser.parse(yaml, source: "test.yml"), source: "test.yml", options: PlanOptions(workingDirectory: root))
        let output = root + "/out"
        let error = #expect(throws: SafeTensorsError.self) { try MergeJob(plan: plan, directory: output, options: MergeOptions(threads: 2)) }
        #expect(error?.description.contains("tokenizer.json: cannot open: it leads to ") == true && error?.description.contains("outside the model folder") == true,
                "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: output) && !FileManager.default.fileExists(atPath: output + ".partial"))
        // --no-copy-tokenizer merges it.
        let job = try MergeJob(plan: plan, directory: output, options: MergeOptions(threads: 2, copyTokenizer: false))
        job.abandon()
    }

    @Test("config.json, tokenizer files, model card and the config are written")
    func sideFiles() throws {
        let root = TemporaryFolder.make("models")
        let tensors: [(String, [Int], [Float])] = [("model.layers.0.w", [4], [1, 2, 3, 4])]
        try TestModels.write(root, "base", tensors, extraFiles: ["tokenizer_config.json": "{\"x\": 1}", "tokenizer.json": "{}"])
        try TestModels.write(root, "ft", [("model.layers.0.w", [4], [2, 2, 2, 2])])
        let yaml = "models: [{model: ft, parameters: {weight: 1}}]\nmerge_method: task_arithmetic\nbase_model: base\nout_dtype: bfloat16\n"
        let out = try TestModels.merge(yaml, root: root)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        #expect(files.isSuperset(of: ["config.json", "tokenizer_config.json", "tokenizer.json", "README.md", "mergekit_config.yml", "model.safetensors"]))
        #expect(try String(contentsOfFile: out + "/tokenizer_config.json", encoding: .utf8) == "{\"x\": 1}")
        #expect(try String(contentsOfFile: out + "/mergekit_config.yml", encoding: .utf8) == yaml)
        let card = try String(contentsOfFile: out + "/README.md", encoding: .utf8)
        #expect(card.hasPrefix("---\nbase_model:\n- base\n- ft\n"))
        #expect(card.contains("task_arithmetic"))
        let config = try Checkpoint(path: out).config
        #expect(config?["torch_dtype"]?.stringValue == "bfloat16")
        // out_dtype: bfloat16 rounds the Float32 result once, to nearest even.
        let info = try Checkpoint(path: out).info("model.layers.0.w")
        #expect(info?.dtype == .bf16)
        #expect(try CheckpointContents.floats(out, "model.layers.0.w") == [2, 2, 2, 2])
    }

    @Test("a merge that fails part-way leaves neither the output folder nor its .partial")
    func failureLeavesNothing() throws {
        let root = try TestModels.family(rows: 8, cols: 8, fineTunes: 1)
        // multislerp of x, −x and 0·y: the mean direction is zero, found on the first tensor it computes.
        let yaml = """
            models: [{model: ft1, parameters: {weight: 1}}, {model: ft1, parameters: {weight: -1}}, {model: base, parameters: {weight: 0}}]
            merge_method: multislerp
            parameters: {normalize_weights: false}
            """
        let config = try ConfigParser.parse(yaml)
        let plan = try Planner.plan(config, options: PlanOptions(workingDirectory: root))
        let out = root + "/failed"
        #expect(throws: (any Error).self) { try MergeRunner.run(plan, to: out, options: MergeOptions(threads: 2)) }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }

    @Test("a model without lm_head (tied embeddings) contributes its input embedding instead")
    func tiedLMHeadFallsBackToEmbeddings() throws {
        let root = TemporaryFolder.make("models")
        let embed: [Float] = [1, 2, 3, 4]
        try TestModels.write(root, "a", [("model.embed_tokens.weight", [2, 2], embed), ("lm_head.weight", [2, 2], [5, 5, 5, 5])])
        try TestModels.write(root, "b", [("model.embed_tokens.weight", [2, 2], embed)])
        let out = try TestModels.merge("models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\nmerge_method: linear\n", root: root)
        #expect(try CheckpointContents.floats(out, "lm_head.weight") == [3, 3.5, 4, 4.5])
    }

    @Test("GPT-NeoX's embed_out is the output head: a frankenmerge takes it from the last slice, embed_in from the first")
    func embedOutIsAHead() throws {
        let root = TemporaryFolder.make("models")
        for (name, value) in [("a", Float(1)), ("b", Float(2))] {
            try TestModels.write(root, name, [("gpt_neox.embed_in.weight", [2, 2], [Float](repeating: value, count: 4)),
                                              ("gpt_neox.layers.0.mlp.dense_h_to_4h.weight", [2, 2], [Float](repeating: value, count: 4)),
                                              ("gpt_neox.layers.1.mlp.dense_h_to_4h.weight", [2, 2], [Float](repeating: value, count: 4)),
                                              ("gpt_neox.final_layer_norm.weight", [2], [value, value]),
                                              ("embed_out.weight", [2, 2], [Float](repeating: value, count: 4))], layers: 2)
        }
        let out = try TestModels.merge("""
            slices:
              - sources: [{model: a, layer_range: [0, 1]}]
              - sources: [{model: b, layer_range: [1, 2]}]
            merge_method: passthrough
            """, root: root)
        #expect(try CheckpointContents.floats(out, "gpt_neox.embed_in.weight") == [1, 1, 1, 1])
        #expect(try CheckpointContents.floats(out, "embed_out.weight") == [2, 2, 2, 2])
        #expect(try CheckpointContents.floats(out, "gpt_neox.final_layer_norm.weight") == [2, 2])
    }

    @Test("a non-float buffer (an older export's attention mask) is copied from the base, else the first model, not merged")
    func nonFloatBuffersAreCopied() throws {
        let root = TemporaryFolder.make("models")
        for (name, value) in [("base", Float(1)), ("ft", Float(3))] {
            let path = root + "/" + name
            let writer = try CheckpointWriter(directory: path, tensors: [
                SafeTensorsLayout.Spec(name: "model.layers.0.mlp.up_proj.weight", dtype: .f32, shape: [2]),
                SafeTensorsLayout.Spec(name: "model.layers.0.self_attn.bias", dtype: .bool, shape: [2, 2]),
            ])
            try [value, value].withUnsafeBytes { try writer.write("model.layers.0.mlp.up_proj.weight", bytes: $0) }
            try (name == "base" ? [UInt8]([1, 0, 1, 1]) : [0, 0, 0, 1]).withUnsafeBytes { try writer.write("model.layers.0.self_attn.bias", bytes: $0) }
            try writer.writeFile("config.json", contents: #"{"model_type": "llama", "num_hidden_layers": 1}"#)
            try writer.finish()
        }
        func mask(_ out: String) throws -> (DType, [UInt8]) {
            let tensor = try Checkpoint(path: out).tensor("model.layers.0.self_attn.bias")
            return (tensor.dtype, Array(tensor.bytes))
        }
        let ties = try TestModels.merge("""
            models: [{model: ft, parameters: {weight: 1, density: 1}}]
            merge_method: ties
            base_model: base
            """, root: root)
        #expect(try mask(ties) == (.bool, [1, 0, 1, 1]))
        #expect(try CheckpointContents.floats(ties, "model.layers.0.mlp.up_proj.weight") == [3, 3])
        let linear = try TestModels.merge("models: [{model: ft, parameters: {weight: 1}}, {model: base, parameters: {weight: 1}}]\nmerge_method: linear\n", root: root)
        #expect(try mask(linear) == (.bool, [0, 0, 0, 1]))
    }

    @Test("the linear example merge is byte-identical for 1 and 3 threads")
    func threadCountDoesNotChangeBytes() throws {
        let text = try GoldenFixtures.configText("ties_gradient_filter")
        #expect(try CheckpointContents.bytes(GoldenFixtures.merge(text, threads: 1)) == CheckpointContents.bytes(GoldenFixtures.merge(text, threads: 3)))
    }

    @Test("docs/methods.md holds the table generated from the method declarations")
    func methodDocsAreCurrent() throws {
        let docs = try String(contentsOfFile: Fixtures.repository + "/docs/methods.md", encoding: .utf8)
        #expect(docs.contains(MethodDocs.markdown(MethodRegistry.all)), "regenerate with: crucible methods --markdown")
    }
}

extension OutputFolderTests {
    @Test("tokenizer_source may name a folder that holds only tokenizer files")
    func tokenizerFromAnotherFolder() throws {
        let root = TemporaryFolder.make("models")
        try TestModels.write(root, "base", [("model.layers.0.w", [2], [1, 2])])
        try TestModels.write(root, "ft", [("model.layers.0.w", [2], [2, 2])])
        let tokenizer = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": []}, \"added_tokens\": []}"
        for folder in ["base", "ft", "tok"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            try (folder == "tok" ? tokenizer.replacingOccurrences(of: "{", with: "{\"from\": \"tok\", ", options: .anchored) : tokenizer)
                .write(toFile: root + "/\(folder)/tokenizer.json", atomically: true, encoding: .utf8)
        }
        let out = try TestModels.merge("""
            models: [{model: ft, parameters: {weight: 1}}]
            merge_method: task_arithmetic
            base_model: base
            tokenizer_source: tok
            """, root: root)
        #expect(try String(contentsOfFile: out + "/tokenizer.json", encoding: .utf8).hasPrefix("{\"from\": \"tok\", "))
    }
}

extension OutputFolderTests {
    @Test("the output folder's missing parents are created")
    func createsParentFolders() throws {
        let out = TemporaryFolder.path("a") + "/b/c/merged"
        _ = try MergeRunner.run(try GoldenFixtures.plan(try GoldenFixtures.configText("linear")), to: out, options: MergeOptions(threads: 1))
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
    }
}

extension OutputFolderTests {
    @Test("per-model parameters set at the top level match filters against each model's input name")
    func perModelFiltersUseInputNames() throws {
        // Output layer 3 comes from ft1's layer 1, output layer 1 from ft0's layer 1: both are
        // scaled by the filter on "layers.1."; output layer 4 (ft1's layer 2) is not.
        let text = """
            slices:
              - sources: [{model: models/ft0, layer_range: [0, 3]}]
              - sources: [{model: models/ft1, layer_range: [1, 4]}]
            merge_method: passthrough
            parameters:
              scale:
                - filter: layers.1.
                  value: 2.0
                - value: 1.0
            """
        let merged = try GoldenFixtures.merge(text)
        let ft0 = Fixtures.golden + "/models/ft0", ft1 = Fixtures.golden + "/models/ft1"
        let suffix = ".mlp.up_proj.weight"
        func values(_ path: String, _ layer: Int) throws -> [Float] { try CheckpointContents.floats(path, "model.layers.\(layer)" + suffix) }
        #expect(try values(merged, 1) == values(ft0, 1).map { $0 * 2 })
        #expect(try values(merged, 3) == values(ft1, 1).map { $0 * 2 })
        #expect(try values(merged, 4) == values(ft1, 2))
        #expect(try values(merged, 0) == values(ft0, 0))
    }
}

extension OutputFolderTests {
    @Test("arcee_fusion on a 4-element tensor uses the minimum importance as its lower quartile")
    func arceeFusionTinyTensor() throws {
        // One row, so KL is a common factor: importances are proportional to |x − b| = [4, 5, 6, 8.5].
        // Sorted-index quantiles (⌊q·3⌋): q1 = 4, median = 5, q3 = 6 → threshold 5 + 1.5·2 = 8:
        // only the last change is applied (with q1 taken as 0, the threshold would be 14: none).
        let root = TemporaryFolder.make("models")
        let base: [Float] = [0, 0, 0, 0]
        try TestModels.write(root, "base", [("model.layers.0.w", [4], base)])
        try TestModels.write(root, "ft", [("model.layers.0.w", [4], [4, 5, 6, 8.5])])
        let out = try TestModels.merge("models: [{model: ft}]\nmerge_method: arcee_fusion\nbase_model: base\n", root: root)
        #expect(try CheckpointContents.floats(out, "model.layers.0.w") == [0, 0, 0, 8.5])
    }
}

extension OutputFolderTests {
    @Test("chat_template: a bundled name writes that template; auto the one most inputs have (chat_template.jinja or tokenizer_config.json), ties to the first")
    func chatTemplates() throws {
        let root = TemporaryFolder.make("chat")
        for name in ["base", "a", "b"] { try TestModels.write(root, name, [("model.layers.0.w", [2], [1, 2])]) }
        func merge(_ setting: String) throws -> String? {
            let out = try TestModels.merge("""
                models: [{model: a, parameters: {weight: 0.5}}, {model: b, parameters: {weight: 0.5}}]
                merge_method: task_arithmetic
                base_model: base
                chat_template: \(setting)
                """, root: root)
            return try? String(contentsOfFile: out + "/chat_template.jinja", encoding: .utf8)
        }
        #expect(try merge("chatml") == ChatTemplate.named["chatml"])
        #expect(try merge("llama3")!.contains("<|start_header_id|>"))
        // No input has a template: nothing is written.
        #expect(try merge("auto") == nil)
        // base has T1 in its tokenizer config, a has T2 as a file, b has T2 in its config (with
        // other whitespace): T2 is the most common.
        let t1 = "{% for m in messages %}{{ m['content'] }}{% endfor %}", t2 = "{{ messages[-1]['content'] }}"
        try #"{"chat_template": "\#(t1)"}"#.write(toFile: root + "/base/tokenizer_config.json", atomically: true, encoding: .utf8)
        try (t2 + "\n").write(toFile: root + "/a/chat_template.jinja", atomically: true, encoding: .utf8)
        try #"{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "  \#(t2)"}]}"#
            .write(toFile: root + "/b/tokenizer_config.json", atomically: true, encoding: .utf8)
        #expect(try merge("auto") == t2)
        // A tie (b without a template) goes to the base's.
        try FileManager.default.removeItem(atPath: root + "/b/tokenizer_config.json")
        #expect(try merge("auto") == t1)
    }
}

extension OutputFolderTests {
    /// Opt-in (CRUCIBLE_MERGEKIT_PYTHON: a python with mergekit 0.1.5, e.g. .venv-bench/bin/python):
    /// the bundled templates rendered with jinja2 against mergekit's of the same names.
    @Test("bundled chat templates render as mergekit's: chatml, llama3, mistral exactly; alpaca but its generation prompt; exaone but whitespace")
    func chatTemplatesAgainstMergekit() throws {
        guard let python = ProcessInfo.processInfo.environment["CRUCIBLE_MERGEKIT_PYTHON"] else { return }
        let folder = TemporaryFolder.make("templates")
        for (name, text) in ChatTemplate.named { try text.write(toFile: "\(folder)/\(name).jinja", atomically: true, encoding: .utf8) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/render_chat_templates.py").path
        let run = try ProcessRunner.run(python, [script, folder])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [String: Bool]] ?? [:]
        #expect(report.keys.sorted() == ChatTemplate.named.keys.sorted())
        for name in ["chatml", "llama3", "mistral"] { #expect(report[name]?["identical"] == true, "\(name): \(report[name] ?? [:])") }
        #expect(report["alpaca"]?["identical_without_generation_prompt"] == true && report["alpaca"]?["identical"] == false)
        #expect(report["exaone"]?["identical_but_whitespace"] == true)
    }
}
