import Evaluator
import TensorIO

/// How a model's tensors divide into the parts a merge treats differently: weights before
/// the transformer layers (embeddings), the layers themselves, and weights after them
/// (final norm, `lm_head`). For a family Crucible knows (`Architecture`, from config.json)
/// the embedding, the head and the layer count come from its description; for any other,
/// from the tensor names.
struct ModelLayout {
    let pre: [String]
    let post: [String]
    /// Tensor names of each layer, by layer index, in file order.
    let layers: [Int: [String]]
    /// The model's input-embedding tensor, if any (the fallback for a tied `lm_head`).
    let embedding: String?
    /// The output head's name, when the family is known.
    let head: String?
    let layerCount: Int

    init(_ checkpoint: Checkpoint) {
        let architecture = checkpoint.config.flatMap { try? Architecture(config: $0) }
        let family = architecture?.family
        var pre: [String] = []
        var post: [String] = []
        var layers: [Int: [String]] = [:]
        for name in checkpoint.tensorNames {
            if let layer = LayerName(name) {
                layers[layer.index, default: []].append(name)
            } else if family.map({ name == $0.embedding }) ?? ModelLayout.isEmbedding(name) {
                pre.append(name)
            } else {
                post.append(name)
            }
        }
        self.pre = pre
        self.post = post
        self.layers = layers
        head = family?.head
        if let family {
            embedding = pre.contains(family.embedding) ? family.embedding : nil
        } else {
            embedding = pre.first { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("wte.weight") } ?? pre.first
        }
        let configured = checkpoint.config?["num_hidden_layers"]?.int64Value.map(Int.init)
        layerCount = architecture?.layerCount ?? configured ?? checkpoint.detectedLayerCount
    }

    /// True for the output head, which tied-embedding models omit: the family's head, or by
    /// name `lm_head` and GPT-NeoX's `embed_out`.
    func isOutputHead(_ name: String) -> Bool {
        head.map { name == $0 } ?? ModelLayout.isOutputHead(name)
    }

    /// Input embeddings (before the layers), by name; an output head whose name mentions
    /// "embed" (GPT-NeoX's `embed_out`) is not one.
    static func isEmbedding(_ name: String) -> Bool {
        !isOutputHead(name) && (name.contains("embed") || name.hasSuffix("wte.weight") || name.hasSuffix("wpe.weight"))
    }

    /// Output-projection tensors by name: `lm_head` and GPT-NeoX's `embed_out`.
    static func isOutputHead(_ name: String) -> Bool {
        ["lm_head", "embed_out"].contains { name == "\($0).weight" || name.hasSuffix(".\($0).weight") }
    }
}
