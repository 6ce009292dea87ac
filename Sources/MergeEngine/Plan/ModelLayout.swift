import Evaluator
import TensorIO

/// How a model's tensors divide into the parts a merge treats differently: weights before
/// the transformer layers (embeddings), the layers themselves, and weights after them
/// (final norm, `lm_head`). For a family Crucible knows (`Architecture`, from config.json)
/// the embedding, the head and the layer count come from its description; for any other,
/// from the tensor names. Names are transformers' model layout: a mixture-of-experts family's
/// per-expert tensors appear as the fused tensors transformers 5 reads (`ExpertFusion`). A
/// multi-module model (`ModularFamily`) is laid out one module at a time.
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
    /// Model-layout names not stored under that name: the stored tensors that make each.
    private let renamed: [String: ExpertFusion.Entry]

    /// The layout of `checkpoint`, or of one `module` of it (a multi-module model's part: its
    /// tensors only, its layers, its own layer count).
    init(_ checkpoint: Checkpoint, module: ModularFamily.Module? = nil) {
        let architecture = module == nil ? checkpoint.config.flatMap { try? Architecture(config: $0) } : nil
        let family = architecture?.family
        let owner = ModularFamily.of(config: checkpoint.config)
        var pre: [String] = []
        var post: [String] = []
        var layers: [Int: [String]] = [:]
        var entries = ExpertFusion.of(checkpoint)?.layout(checkpoint.tensorNames)
            ?? checkpoint.tensorNames.map { ExpertFusion.Entry(name: $0, parts: [$0], experts: 0) }
        if let module {
            entries = entries.filter { entry in
                owner.map { $0.module(of: entry.name)?.name == module.name } ?? module.prefixes.contains(where: entry.name.hasPrefix)
            }
        }
        renamed = Dictionary(uniqueKeysWithValues: entries.filter { $0.parts != [$0.name] }.map { ($0.name, $0) })
        for name in entries.map(\.name) {
            if let layer = LayerName(name), module.map({ $0.layerCountKey != nil }) ?? true {
                layers[layer.index, default: []].append(name)
            } else if let module {
                if module.post.contains(name) { post.append(name) } else { pre.append(name) }
            } else if family.map({ name == $0.embedding }) ?? ModelLayout.isEmbedding(name) {
                pre.append(name)
            } else {
                post.append(name)
            }
        }
        self.pre = pre
        self.post = post
        self.layers = layers
        if let module {
            head = module.post.first(where: ModelLayout.isOutputHead)
            embedding = pre.first { $0.hasSuffix("embed_tokens.weight") }
            let configured = module.layerCountKey.flatMap { checkpoint.config?[path: $0]?.int64Value.map(Int.init) }
            layerCount = configured ?? layers.keys.max().map { $0 + 1 } ?? 0
            return
        }
        head = family?.head
        if let family {
            embedding = pre.contains(family.embedding) ? family.embedding : nil
        } else {
            embedding = pre.first { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("wte.weight") } ?? pre.first
        }
        let configured = checkpoint.config?["num_hidden_layers"]?.int64Value.map(Int.init)
        layerCount = architecture?.layerCount ?? configured ?? checkpoint.detectedLayerCount
    }

    /// The stored tensors that make `name` when it is not stored under that name (a renamed
    /// tensor, or a fused tensor's parts in byte order); nil when it is.
    func parts(of name: String) -> [String]? { renamed[name]?.parts }

    /// Whether the model has `name` (in its model layout).
    func contains(_ name: String, in checkpoint: Checkpoint) -> Bool { renamed[name] != nil || checkpoint.contains(name) }

    /// `name`'s dtype and shape (in its model layout): a fused tensor is [experts, rows of one
    /// expert's parts, columns], its offsets those of a buffer of its own. Nil when the model
    /// lacks it or the parts do not fit together (dtypes, or anything but 2-D parts of one width).
    func info(_ name: String, in checkpoint: Checkpoint) -> TensorInfo? {
        guard let entry = renamed[name] else { return checkpoint.info(name) }
        let infos = entry.parts.compactMap { checkpoint.info($0) }
        guard infos.count == entry.parts.count, let first = infos.first else { return nil }
        if entry.parts.count == 1 { return TensorInfo(name: name, dtype: first.dtype, shape: first.shape, dataOffsets: first.dataOffsets) }
        guard infos.allSatisfy({ $0.dtype == first.dtype && $0.shape.count == 2 && $0.shape[1] == first.shape[1] }) else { return nil }
        let rows = infos.reduce(0) { $0 + $1.shape[0] }
        guard entry.experts > 0, rows % entry.experts == 0 else { return nil }
        let bytes = infos.reduce(0) { $0 + $1.byteCount }
        return TensorInfo(name: name, dtype: first.dtype, shape: [entry.experts, rows / entry.experts, first.shape[1]],
                          dataOffsets: 0..<UInt64(bytes))
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
