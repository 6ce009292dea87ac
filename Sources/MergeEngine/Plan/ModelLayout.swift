import TensorIO

/// How a model's tensors divide into the parts a merge treats differently: weights before
/// the transformer layers (embeddings), the layers themselves, and weights after them
/// (final norm, `lm_head`).
struct ModelLayout {
    let pre: [String]
    let post: [String]
    /// Tensor names of each layer, by layer index, in file order.
    let layers: [Int: [String]]
    /// The model's input-embedding tensor, if any (the fallback for a tied `lm_head`).
    let embedding: String?
    let layerCount: Int

    init(_ checkpoint: Checkpoint) {
        var pre: [String] = []
        var post: [String] = []
        var layers: [Int: [String]] = [:]
        for name in checkpoint.tensorNames {
            if let layer = LayerName(name) {
                layers[layer.index, default: []].append(name)
            } else if ModelLayout.isEmbedding(name) {
                pre.append(name)
            } else {
                post.append(name)
            }
        }
        self.pre = pre
        self.post = post
        self.layers = layers
        self.embedding = pre.first { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("wte.weight") } ?? pre.first
        let configured = checkpoint.config?["num_hidden_layers"]?.int64Value.map(Int.init)
        self.layerCount = configured ?? checkpoint.detectedLayerCount
    }

    /// Input embeddings (before the layers); an output head whose name mentions "embed"
    /// (GPT-NeoX's `embed_out`) is not one.
    static func isEmbedding(_ name: String) -> Bool {
        !isOutputHead(name) && (name.contains("embed") || name.hasSuffix("wte.weight") || name.hasSuffix("wpe.weight"))
    }

    /// True for output-projection tensors (after the layers), which tied-embedding models
    /// omit: `lm_head` and GPT-NeoX's `embed_out`.
    static func isOutputHead(_ name: String) -> Bool {
        ["lm_head", "embed_out"].contains { name == "\($0).weight" || name.hasSuffix(".\($0).weight") }
    }
}
