/// Where the transformer-block index sits in a tensor name: `<prefix>.layers.<i>.<rest>`
/// (Llama, Mistral, Qwen, Gemma, OLMo, ...), `transformer.h.<i>.` (GPT-2),
/// `model.decoder.layers.<i>.` (OPT) or `blocks.<i>.`.
public struct LayerName: Sendable, Equatable {
    /// Everything before the index, including the trailing dot (`model.layers.`).
    public let prefix: String
    public let index: Int
    /// Everything after the index, including the leading dot (`.self_attn.q_proj.weight`).
    public let suffix: String

    static let containers: Set<Substring> = ["layers", "h", "blocks", "layer"]

    /// Parses `name`; nil when it holds no layer index.
    public init?(_ name: String) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        for i in 1..<(parts.count - 1) where LayerName.containers.contains(parts[i - 1]) {
            guard let index = Int(parts[i]), index >= 0, parts[i].allSatisfy(\.isNumber) else { continue }
            self.prefix = parts[..<i].joined(separator: ".") + "."
            self.index = index
            self.suffix = "." + parts[(i + 1)...].joined(separator: ".")
            return
        }
        return nil
    }

    /// The same tensor in layer `index`.
    public func renumbered(_ index: Int) -> String { prefix + String(index) + suffix }
    public var name: String { renumbered(index) }
}
