import TensorIO

/// The files that make a variant a complete Hugging Face folder besides its weights: the
/// model's `config.json` (dtype updated when `--out-dtype` changes it), its tokenizer files,
/// and a model card saying how the variant was made.
enum VariantFiles {
    static func write(_ variant: SweepVariant, plan: SweepPlan, into writer: CheckpointWriter) throws {
        let checkpoint = plan.checkpoints[variant.model]
        if let config = checkpoint.config { try writer.writeConfig(config, dtype: plan.spec.outputDType) }
        if plan.spec.copyTokenizer { try writer.copyTokenizerFiles(from: checkpoint.directory) }
        try writer.writeFile("README.md", contents: modelCard(variant, plan: plan))
    }

    /// Refuses, before any work, the tokenizer files `write` would refuse to copy (a FIFO, a
    /// symbolic link out of the model folder).
    static func check(_ variants: [SweepVariant], plan: SweepPlan) throws {
        guard plan.spec.copyTokenizer else { return }
        for model in Set(variants.map(\.model)).sorted() { _ = try Checkpoint.tokenizerFiles(in: plan.checkpoints[model].directory) }
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
