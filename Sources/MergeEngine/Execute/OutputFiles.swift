import Foundation
import TensorIO

/// The files that go with merged weights: `config.json` (from the reference model, with the
/// layer count, dtype and a new vocabulary's size updated), the tokenizer (built by a
/// tokenizer merge, else copied), a model card and the merge config itself.
public enum OutputFiles {
    public static func write(_ plan: MergePlan, options: MergeOptions, into writer: CheckpointWriter) throws {
        if let config = plan.checkpoints[plan.referenceModel].config {
            try writer.writeConfig(layered(config, plan), dtype: plan.outputDType)
        }
        if options.copyTokenizer {
            try writer.copyTokenizerFiles(from: plan.tokenizerDirectory)
            if let document = plan.tokenizerDocument {
                try writer.writeFile("tokenizer.json", contents: JSONValue.object(document).serialized(indent: 2) + "\n")
            }
        }
        let inputs = plan.checkpoints.prefix(plan.modelPaths.count).map(\.directory)
        if let setting = plan.config.chatTemplate, let template = ChatTemplate.resolve(setting, inputs: Array(inputs)) {
            try writer.writeFile("chat_template.jinja", contents: template)
        }
        try writer.writeFile("mergekit_config.yml", contents: plan.config.text)
        try writer.writeFile("README.md", contents: modelCard(plan, options: options))
    }

    /// Keys that hold a model's layer count, by family (Llama and most: `num_hidden_layers`;
    /// GPT-2: `n_layer`; others `num_layers`, `n_layers`).
    static let layerCountKeys = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"]

    /// The reference model's config for the output's layers: for each stack of layers, every
    /// layer-count key holds the output's count, and every list with one entry per input layer
    /// (`layer_types`, sliding-window patterns, ...) holds the entries of the layers the
    /// output's layers come from, in output order. A module's stack is counted at its key
    /// (`text_config.num_hidden_layers`) and its lists are those of the object holding it.
    static func layered(_ config: JSONObject, _ plan: MergePlan) -> JSONObject {
        var config = config
        // A multi-module model's vocabulary size is its text model's.
        for key in ["vocab_size", "text_config.vocab_size"] where config[path: key]?.int64Value != nil {
            if let rows = plan.vocabularySize { config[path: key] = .integer(rows) }
        }
        for stack in plan.layerStacks {
            guard let key = stack.countKey else {
                config = layered(config, countKeys: layerCountKeys, sources: stack.sources)
                if !layerCountKeys.contains(where: { config[$0] != nil }) { config["num_hidden_layers"] = .integer(stack.sources.count) }
                continue
            }
            guard let dot = key.lastIndex(of: ".") else {
                config = layered(config, countKeys: [key], sources: stack.sources)
                continue
            }
            let parent = String(key[..<dot])
            if let object = config[path: parent]?.objectValue {
                config[path: parent] = .object(layered(object, countKeys: [String(key[key.index(after: dot)...])], sources: stack.sources))
            }
        }
        return config
    }

    /// `object` with its `countKeys` set to the count of `sources` and its per-layer lists
    /// following `sources`.
    static func layered(_ object: JSONObject, countKeys: [String], sources: [Int]) -> JSONObject {
        var object = object
        let inputCount = countKeys.lazy.compactMap { object[$0]?.int64Value.map(Int.init) }.first
        for key in countKeys where object[key]?.int64Value != nil { object[key] = .integer(sources.count) }
        guard let inputCount, inputCount > 1, sources != Array(0..<inputCount) else { return object }
        for entry in object.entries where entry.key != "architectures" {
            guard case .array(let list) = entry.value, list.count == inputCount, sources.allSatisfy({ $0 < list.count }),
                  list.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) else { continue }
            object[entry.key] = .array(sources.map { list[$0] })
        }
        return object
    }

    /// Refuses, before any weight is read, what `write` would refuse at the end: tokenizer
    /// files that are not regular files or are symbolic links out of the model folder.
    public static func check(_ plan: MergePlan, options: MergeOptions) throws {
        if options.copyTokenizer { _ = try Checkpoint.tokenizerFiles(in: plan.tokenizerDirectory) }
    }

    static func modelCard(_ plan: MergePlan, options: MergeOptions) -> String {
        let base = plan.config.baseModel
        var card = "---\nbase_model:\n"
        for path in plan.modelPaths { card += "- \(path)\n" }
        card += "library_name: transformers\ntags:\n- crucible\n- mergekit\n- merge\n---\n"
        card += "# Merged model\n\nThis model was merged with Crucible using the "
        card += "**\(plan.method.name)** method (\(plan.method.summary.lowercased().trimmingCharacters(in: .punctuationCharacters))).\n\n"
        card += "## Models\n\n"
        for path in plan.modelPaths {
            card += "- \(path)\(path == base ? " (base)" : "")\n"
        }
        card += "\nOutput: \(plan.tensors.count) tensors, \(plan.layerCount) layers, \(plan.outputDType.rawValue)"
        if plan.method.isRandomized { card += ", random seed \(options.seed)" }
        card += ".\n\n## Configuration\n\n```yaml\n\(plan.config.text.trimmingCharacters(in: .newlines))\n```\n"
        return card
    }
}
