import TensorIO

/// A model made of parts that are merged apart (mergekit's "modular" architectures: a text
/// decoder, a vision tower, the projector between them), as declared data. The modules and
/// their layer-count keys follow mergekit 0.1.5's `_data/architectures`; the tensor names are
/// those transformers 5's `save_pretrained` writes.
public struct ModularFamily: Sendable {
    /// One part of the model.
    public struct Module: Sendable {
        /// The name configs use under `modules:` (`text_decoder`, `vision_tower`, ...).
        public let name: String
        /// Tensor-name prefixes the module owns; a tensor belongs to the module with the
        /// longest prefix it starts with.
        public let prefixes: [String]
        /// Dotted config.json path of the module's layer count (`text_config.num_hidden_layers`);
        /// nil for a module without layers.
        public let layerCountKey: String?
        /// Tensors outside the layers that come after them (final norm, output head); every
        /// other tensor outside the layers comes before them.
        public let post: [String]
    }

    /// `model_type` in config.json.
    public let modelType: String
    /// The modules, in the order a `models:` config merges them.
    public let modules: [Module]

    /// The family of a config.json, if it declares a modular one.
    public static func of(config: JSONObject?) -> ModularFamily? {
        guard let type = config?["model_type"]?.stringValue else { return nil }
        return supported.first { $0.modelType == type }
    }

    public func module(named name: String) -> Module? { modules.first { $0.name == name } }

    /// The module that owns tensor `name`; nil when no module does.
    public func module(of name: String) -> Module? {
        modules.compactMap { module in module.prefixes.filter(name.hasPrefix).map(\.count).max().map { (module, $0) } }
            .max { $0.1 < $1.1 }?.0
    }

    public static let supported: [ModularFamily] = [mistral3, gemma3, qwen2VL, qwen2_5VL]

    /// Mistral 3 / Pixtral (`Mistral3ForConditionalGeneration`).
    public static let mistral3 = ModularFamily(modelType: "mistral3", modules: [
        textDecoder(prefix: "language_model."),
        Module(name: "multi_modal_projector", prefixes: ["multi_modal_projector."], layerCountKey: nil, post: []),
        Module(name: "vision_tower", prefixes: ["vision_tower."], layerCountKey: "vision_config.num_hidden_layers", post: []),
    ])

    /// Gemma 3 with its SigLIP vision tower (`Gemma3ForConditionalGeneration`).
    public static let gemma3 = ModularFamily(modelType: "gemma3", modules: [
        textDecoder(prefix: "language_model."),
        Module(name: "multi_modal_projector", prefixes: ["multi_modal_projector."], layerCountKey: nil, post: []),
        Module(name: "vision_tower", prefixes: ["vision_tower."], layerCountKey: "vision_config.num_hidden_layers",
               post: ["vision_tower.post_layernorm.weight", "vision_tower.post_layernorm.bias",
                      "vision_tower.vision_model.post_layernorm.weight", "vision_tower.vision_model.post_layernorm.bias"]),
    ])

    /// Qwen2-VL: the decoder at the top level, the vision tower and its merger under `visual.`.
    public static let qwen2VL = ModularFamily(modelType: "qwen2_vl", modules: qwenVisionLanguage)
    public static let qwen2_5VL = ModularFamily(modelType: "qwen2_5_vl", modules: qwenVisionLanguage)

    private static let qwenVisionLanguage = [
        Module(name: "text_decoder", prefixes: ["model.", "lm_head."], layerCountKey: "text_config.num_hidden_layers",
               post: ["model.norm.weight", "lm_head.weight"]),
        Module(name: "multi_modal_projector", prefixes: ["visual.merger."], layerCountKey: nil, post: []),
        Module(name: "vision_tower", prefixes: ["visual."], layerCountKey: "vision_config.depth", post: []),
    ]

    private static func textDecoder(prefix: String) -> Module {
        Module(name: "text_decoder", prefixes: [prefix], layerCountKey: "text_config.num_hidden_layers",
               post: [prefix + "model.norm.weight", prefix + "lm_head.weight"])
    }
}
