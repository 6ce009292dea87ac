import TensorIO

/// Mixture-of-experts families whose per-expert tensors transformers 5 reads as one tensor per
/// layer and projection (its checkpoint conversion mapping). `save_pretrained` writes the
/// per-expert tensors; mergekit 0.1.5 reads, merges and writes the fused ones, so a merge sees
/// one tensor for all experts (one top-k, one slerp angle) and the output has the fused names.
///
/// A fused tensor's bytes are its parts' one after another: expert 0's, then expert 1's, ...;
/// within an expert, the sources in order (the gate projection's rows, then the up
/// projection's). Its shape is [experts, rows of an expert's parts, columns].
struct ExpertFusion: Sendable {
    let modelTypes: [String]
    /// Substitutions made in every tensor name first (Mixtral's `.block_sparse_moe.` → `.mlp.`).
    let renames: [(from: String, to: String)]
    /// Each fused tensor: what replaces `experts.<index>.<source>` in the name, and the sources.
    let fused: [(target: String, sources: [String])]

    static let families = [
        ExpertFusion(modelTypes: ["mixtral"], renames: [(".block_sparse_moe.", ".mlp.")],
                     fused: [("experts.gate_up_proj", ["w1.weight", "w3.weight"]), ("experts.down_proj", ["w2.weight"])]),
        ExpertFusion(modelTypes: ["qwen2_moe", "qwen3_moe"], renames: [],
                     fused: [("experts.gate_up_proj", ["gate_proj.weight", "up_proj.weight"]), ("experts.down_proj", ["down_proj.weight"])]),
    ]

    /// The fusion of a config.json's `model_type`, if its family has one.
    static func of(_ checkpoint: Checkpoint) -> ExpertFusion? {
        guard let type = checkpoint.config?["model_type"]?.stringValue else { return nil }
        return families.first { $0.modelTypes.contains(type) }
    }

    /// A tensor in transformers' model layout: its name and the stored tensors that make it
    /// (the tensor itself, its old name, or a fused tensor's parts in byte order).
    struct Entry: Equatable {
        let name: String
        let parts: [String]
        let experts: Int
    }

    /// The stored tensor names in the model layout, in stored order (a fused tensor where its
    /// first part is). Experts that do not form a complete set (0 ..< n, every source) stay
    /// as they are stored.
    func layout(_ stored: [String]) -> [Entry] {
        var entries: [Entry] = []
        var groups: [String: [Int: [Int: String]]] = [:]
        var groupSources: [String: Int] = [:]
        var firstSeen: [String: Int] = [:]
        for name in stored {
            let renamed = renames.reduce(name) { $0.replacingOccurrences(of: $1.from, with: $1.to) }
            if let (target, expert, source, count) = fusedPart(renamed) {
                groups[target, default: [:]][expert, default: [:]][source] = name
                groupSources[target] = count
                if firstSeen[target] == nil { firstSeen[target] = entries.count; entries.append(Entry(name: target, parts: [], experts: 0)) }
            } else {
                entries.append(Entry(name: renamed, parts: [name], experts: 0))
            }
        }
        return entries.flatMap { entry -> [Entry] in
            guard entry.parts.isEmpty, let experts = groups[entry.name], let sources = groupSources[entry.name] else { return [entry] }
            let complete = (0..<experts.count).allSatisfy { experts[$0]?.count == sources }
            let parts = (0..<experts.count).flatMap { e in (0..<sources).compactMap { experts[e]?[$0] } }
            if complete { return [Entry(name: entry.name, parts: parts, experts: experts.count)] }
            return experts.values.flatMap { $0.values }.sorted().map { Entry(name: $0, parts: [$0], experts: 0) }
        }
    }

    /// For a (renamed) per-expert tensor name `…experts.<e>.<source>`: the fused name, the
    /// expert, the source's index and how many sources the fused tensor has.
    private func fusedPart(_ name: String) -> (String, Int, Int, Int)? {
        guard let marker = name.range(of: "experts.", options: .backwards) else { return nil }
        let rest = name[marker.upperBound...]
        guard let dot = rest.firstIndex(of: "."), let expert = Int(rest[..<dot]) else { return nil }
        let source = String(rest[rest.index(after: dot)...])
        for (target, sources) in fused {
            if let index = sources.firstIndex(of: source) {
                return (String(name[..<marker.lowerBound]) + target, expert, index, sources.count)
            }
        }
        return nil
    }
}
