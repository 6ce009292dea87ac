/// One decoder-only model family as declared data: where its tensors are, how a block is
/// wired, and which `config.json` keys switch its options. Nothing here is guessed from
/// tensor names; `Architecture(config:)` resolves a family against a config into the numbers
/// and names the forward pass (and, later, merge planning, prune and sweep) use.
public struct ModelFamily: Sendable {
    /// `model_type` in config.json.
    public let modelType: String

    // Tensors outside the blocks.
    public let embedding: String
    public let finalNorm: String
    public let head: String
    /// `tie_word_embeddings` when config.json does not say.
    public let tiedByDefault: Bool

    /// The blocks: `{i}` is the layer index.
    public let blockPrefix: String
    public let attention: AttentionTensors
    public let output: String
    public let mlp: MLPTensors
    public let down: String
    /// Norm before attention.
    public let inputNorm: String
    /// Norm applied to the attention output before the residual add (Gemma 2 "sandwich").
    public let postAttentionNorm: String?
    /// Norm before the MLP.
    public let preMLPNorm: String
    /// Norm applied to the MLP output before the residual add (Gemma 2 "sandwich").
    public let postMLPNorm: String?
    /// Per-head RMSNorm of queries and keys before RoPE (Qwen 3).
    public let qkNorm: (q: String, k: String)?

    /// Biases of the q/k/v projections, of the output projection, of the MLP projections.
    public let qkvBias: BiasRule
    public let outputBias: BiasRule
    public let mlpBias: BiasRule

    public let normStyle: NormStyle
    /// config.json key holding the activation, and its default.
    public let activationKey: String
    public let defaultActivation: String
    /// Embeddings multiplied by √hidden_size (Gemma).
    public let scalesEmbedding: Bool
    /// Reads `attn_logit_softcapping`, `final_logit_softcapping` and `query_pre_attn_scalar`.
    public let gemmaAttention: Bool
    public let slidingWindow: SlidingWindowRule
    /// RMSNorm epsilon when config.json does not say.
    public let defaultEpsilon: Double

    public enum AttentionTensors: Sendable {
        /// Separate projections (suffixes after the block prefix, without `.weight`).
        case separate(q: String, k: String, v: String)
        /// One projection whose output rows are q, then k, then v (Phi-3 `qkv_proj`).
        case fused(String)
    }

    public enum MLPTensors: Sendable {
        case separate(gate: String, up: String)
        /// One projection whose output rows are gate, then up (Phi-3 `gate_up_proj`).
        case fused(String)
    }

    public enum BiasRule: Sendable {
        case never, always
        /// Present when this config.json key is true (false when absent).
        case config(String)
    }

    public enum NormStyle: String, Sendable {
        /// x / rms(x) · w
        case rms
        /// x / rms(x) · (1 + w) (Gemma)
        case rmsOnePlusWeight
    }

    /// Which layers attend over a sliding window of `sliding_window` keys. A config's
    /// `layer_types` list ("sliding_attention" / "full_attention"), when present, wins.
    public enum SlidingWindowRule: Sendable {
        case never
        /// Every layer, whenever `sliding_window` is a number (Mistral, Phi-3).
        case allLayers
        /// When `use_sliding_window` is true, layers from `max_window_layers` on (Qwen 2/3).
        case qwen
        /// Even-numbered layers (Gemma 2).
        case evenLayers
    }

    /// The families `crucible eval` supports, by `model_type`.
    public static let supported: [ModelFamily] = [llama, mistral, qwen2, qwen3, gemma2, phi3]

    public static func named(_ modelType: String) -> ModelFamily? {
        supported.first { $0.modelType == modelType }
    }

    public static var supportedNames: String { supported.map(\.modelType).joined(separator: ", ") }

    public static let llama = ModelFamily(
        modelType: "llama", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight", head: "lm_head.weight",
        tiedByDefault: false, blockPrefix: "model.layers.{i}.",
        attention: .separate(q: "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj"), output: "self_attn.o_proj",
        mlp: .separate(gate: "mlp.gate_proj", up: "mlp.up_proj"), down: "mlp.down_proj",
        inputNorm: "input_layernorm", postAttentionNorm: nil, preMLPNorm: "post_attention_layernorm", postMLPNorm: nil,
        qkNorm: nil, qkvBias: .config("attention_bias"), outputBias: .config("attention_bias"), mlpBias: .config("mlp_bias"),
        normStyle: .rms, activationKey: "hidden_act", defaultActivation: "silu", scalesEmbedding: false,
        gemmaAttention: false, slidingWindow: .never, defaultEpsilon: 1e-6)

    public static let mistral = llama.with(modelType: "mistral", qkvBias: .never, outputBias: .never, mlpBias: .never,
                                    slidingWindow: .allLayers, defaultEpsilon: 1e-6)

    public static let qwen2 = llama.with(modelType: "qwen2", qkvBias: .always, outputBias: .never, mlpBias: .never,
                                  slidingWindow: .qwen, defaultEpsilon: 1e-6)

    public static let qwen3 = llama.with(modelType: "qwen3", qkNorm: (q: "self_attn.q_norm", k: "self_attn.k_norm"),
                                  qkvBias: .config("attention_bias"), outputBias: .config("attention_bias"), mlpBias: .never,
                                  slidingWindow: .qwen, defaultEpsilon: 1e-6)

    public static let gemma2 = ModelFamily(
        modelType: "gemma2", embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight", head: "lm_head.weight",
        tiedByDefault: true, blockPrefix: "model.layers.{i}.",
        attention: .separate(q: "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj"), output: "self_attn.o_proj",
        mlp: .separate(gate: "mlp.gate_proj", up: "mlp.up_proj"), down: "mlp.down_proj",
        inputNorm: "input_layernorm", postAttentionNorm: "post_attention_layernorm",
        preMLPNorm: "pre_feedforward_layernorm", postMLPNorm: "post_feedforward_layernorm",
        qkNorm: nil, qkvBias: .config("attention_bias"), outputBias: .config("attention_bias"), mlpBias: .never,
        normStyle: .rmsOnePlusWeight, activationKey: "hidden_activation", defaultActivation: "gelu_pytorch_tanh",
        scalesEmbedding: true, gemmaAttention: true, slidingWindow: .evenLayers, defaultEpsilon: 1e-6)

    public static let phi3 = llama.with(modelType: "phi3", attention: .fused("self_attn.qkv_proj"), mlp: .fused("mlp.gate_up_proj"),
                                 qkvBias: .never, outputBias: .never, mlpBias: .never,
                                 slidingWindow: .allLayers, defaultEpsilon: 1e-5)

    private func with(modelType: String, attention: AttentionTensors? = nil, mlp: MLPTensors? = nil,
                      qkNorm: (q: String, k: String)? = nil, qkvBias: BiasRule, outputBias: BiasRule, mlpBias: BiasRule,
                      slidingWindow: SlidingWindowRule, defaultEpsilon: Double) -> ModelFamily {
        ModelFamily(
            modelType: modelType, embedding: embedding, finalNorm: finalNorm, head: head, tiedByDefault: tiedByDefault,
            blockPrefix: blockPrefix, attention: attention ?? self.attention, output: output, mlp: mlp ?? self.mlp, down: down,
            inputNorm: inputNorm, postAttentionNorm: postAttentionNorm, preMLPNorm: preMLPNorm, postMLPNorm: postMLPNorm,
            qkNorm: qkNorm, qkvBias: qkvBias, outputBias: outputBias, mlpBias: mlpBias, normStyle: normStyle,
            activationKey: activationKey, defaultActivation: defaultActivation, scalesEmbedding: scalesEmbedding,
            gemmaAttention: gemmaAttention, slidingWindow: slidingWindow, defaultEpsilon: defaultEpsilon)
    }
}
