import Foundation
import TensorIO

/// The files that go with merged weights: `config.json` (from the reference model, with the
/// layer count and dtype updated), the tokenizer, a model card and the merge config itself.
public enum OutputFiles {
    public static func write(_ plan: MergePlan, options: MergeOptions, into writer: CheckpointWriter) throws {
        if var config = plan.checkpoints[plan.referenceModel].config {
            config["num_hidden_layers"] = .integer(plan.layerCount)
            try writer.writeConfig(config, dtype: plan.outputDType)
        }
        if options.copyTokenizer { try writer.copyTokenizerFiles(from: plan.tokenizerDirectory) }
        if let template = plan.config.chatTemplate, template != "auto" {
            try writer.writeFile("chat_template.jinja", contents: template)
        }
        try writer.writeFile("mergekit_config.yml", contents: plan.config.text)
        try writer.writeFile("README.md", contents: modelCard(plan, options: options))
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
