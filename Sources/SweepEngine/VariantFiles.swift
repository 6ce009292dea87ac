import TensorIO

/// The files that make a variant a complete Hugging Face folder besides its weights: the
/// model's `config.json` (dtype updated when `--out-dtype` changes it), its tokenizer files,
/// and a model card saying how the variant was made.
enum VariantFiles {
    /// The side files copied from the model folder (the same list `crucible merge` copies).
    static let tokenizerFiles = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
        "added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "generation_config.json",
    ]

    static func write(_ variant: SweepVariant, plan: SweepPlan, into writer: CheckpointWriter) throws {
        let checkpoint = plan.checkpoints[variant.model]
        if var config = checkpoint.config {
            if let dtype = plan.spec.outputDType, let torchName = dtype.torchName {
                if config["dtype"] != nil { config["dtype"] = .string(torchName) }
                config["torch_dtype"] = .string(torchName)
            }
            try writer.writeFile("config.json", contents: JSONValue.object(config).serialized(indent: 2) + "\n")
        }
        if plan.spec.copyTokenizer {
            for name in tokenizerFiles where FileSystem.exists(FileSystem.join(checkpoint.directory, name)) {
                try writer.copyFile(from: FileSystem.join(checkpoint.directory, name), as: name)
            }
        }
        try writer.writeFile("README.md", contents: modelCard(variant, plan: plan))
    }

    static func modelCard(_ variant: SweepVariant, plan: SweepPlan) -> String {
        let spec = plan.spec
        let model = spec.models[variant.model]
        let perturbed = plan.tensors[variant.model].filter(\.perturb).count
        let scale: String
        switch spec.scale {
        case .relative: scale = "the RMS of each tensor"
        case .absolute: scale = "1 (absolute)"
        case .initialization: scale = "the initialisation std \(plan.fixedScales[variant.model].map { "\($0)" } ?? "?")"
        }
        var card = "---\nbase_model:\n- \(model)\nlibrary_name: transformers\ntags:\n- crucible\n- noise-sensitivity\n---\n"
        card += "# \(variant.folder)\n\n"
        card += "`\(model)` with Gaussian noise added by `crucible sweep`: W' = W + σ · s · ε, "
        card += "σ = \(SweepPlan.format(variant.sigma)), s = \(scale), ε ~ N(0, 1) from Philox keyed by "
        card += "(seed \(variant.seed), tensor name, element index).\n\n"
        card += "Perturbed: \(perturbed) of \(plan.tensors[variant.model].count) tensors"
        if !spec.include.isEmpty { card += "; include \(spec.include.map { "`\($0)`" }.joined(separator: ", "))" }
        if !spec.exclude.isEmpty { card += "; exclude \(spec.exclude.map { "`\($0)`" }.joined(separator: ", "))" }
        card += ". The others are copied byte for byte.\n"
        return card
    }
}
