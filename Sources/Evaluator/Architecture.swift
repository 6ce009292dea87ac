import Foundation
import TensorIO

/// A `ModelFamily` resolved against one `config.json`: sizes, options and tensor names.
public struct Architecture: Sendable {
    public let family: ModelFamily
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let layerCount: Int
    public let headCount: Int
    public let kvHeadCount: Int
    public let headDim: Int
    public let vocabSize: Int
    /// `max_position_embeddings` (nil when config.json has none).
    public let maxPositions: Int?
    public let epsilon: Float
    public let activation: Activation
    public let tied: Bool
    public let qkvBias: Bool
    public let outputBias: Bool
    public let mlpBias: Bool
    public let rope: RoPEConfig
    /// Per layer: the sliding window (keys a query may see, itself included), nil for full attention.
    public let windows: [Int?]
    /// Scores are multiplied by this before the softmax (1/√head_dim unless the family says).
    public let attentionScale: Float
    public let attentionSoftcap: Float?
    public let finalSoftcap: Float?
    /// Multiplier of the embeddings (√hidden_size in Float32 for Gemma, else 1).
    public let embeddingScale: Float

    public enum Activation: String, Sendable {
        case silu
        case geluTanh

        init(name: String) throws(EvalError) {
            switch name {
            case "silu", "swish": self = .silu
            case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": self = .geluTanh
            default: throw EvalError("activation \"\(name)\" is not supported (silu, gelu_pytorch_tanh)")
            }
        }
    }

    /// Resolves config.json. Throws for an unsupported `model_type` (naming the supported ones)
    /// and for missing or inconsistent sizes.
    public init(config: JSONObject) throws(EvalError) {
        let c = ConfigReader(config)
        guard let type = config["model_type"]?.stringValue else {
            throw EvalError("config.json has no model_type (supported: \(ModelFamily.supportedNames))")
        }
        guard let family = ModelFamily.named(type) else {
            throw EvalError("model_type \"\(type)\" is not supported by crucible eval (supported: \(ModelFamily.supportedNames))")
        }
        self.family = family
        hiddenSize = try c.int("hidden_size")
        intermediateSize = try c.int("intermediate_size")
        layerCount = try c.int("num_hidden_layers")
        headCount = try c.int("num_attention_heads")
        kvHeadCount = try c.int("num_key_value_heads", default: headCount)
        headDim = try c.int("head_dim", default: headCount > 0 ? hiddenSize / headCount : 0)
        vocabSize = try c.int("vocab_size")
        maxPositions = try c.optionalInt("max_position_embeddings")
        guard hiddenSize > 0, intermediateSize > 0, layerCount > 0, headCount > 0, kvHeadCount > 0, headDim > 0, vocabSize > 0 else {
            throw EvalError("config.json: sizes must be positive")
        }
        guard headCount % kvHeadCount == 0 else {
            throw EvalError("config.json: num_attention_heads \(headCount) is not a multiple of num_key_value_heads \(kvHeadCount)")
        }
        epsilon = Float(try c.double("rms_norm_eps", default: family.defaultEpsilon))
        activation = try Activation(name: config[family.activationKey]?.stringValue ?? config["hidden_act"]?.stringValue ?? family.defaultActivation)
        tied = try c.bool("tie_word_embeddings", default: family.tiedByDefault)
        func bias(_ rule: ModelFamily.BiasRule) throws(EvalError) -> Bool {
            switch rule {
            case .never: return false
            case .always: return true
            case .config(let key): return try c.bool(key, default: false)
            }
        }
        qkvBias = try bias(family.qkvBias)
        outputBias = try bias(family.outputBias)
        mlpBias = try bias(family.mlpBias)
        rope = try RoPEConfig(config: config, headDim: headDim)

        // Sliding windows.
        let window = try c.optionalInt("sliding_window")
        var windows = [Int?](repeating: nil, count: layerCount)
        if let types = config["layer_types"]?.arrayValue {
            guard types.count == layerCount else { throw EvalError("config.json: layer_types has \(types.count) entries for \(layerCount) layers") }
            for (i, t) in types.enumerated() {
                switch t.stringValue {
                case "full_attention": break
                case "sliding_attention":
                    guard let window else { throw EvalError("config.json: layer \(i) is sliding_attention but sliding_window is not set") }
                    windows[i] = window
                default: throw EvalError("config.json: layer_types[\(i)] \(t) is not supported (full_attention, sliding_attention)")
                }
            }
        } else if let window {
            for i in 0..<layerCount {
                switch family.slidingWindow {
                case .never: break
                case .allLayers: windows[i] = window
                case .qwen:
                    if try c.bool("use_sliding_window", default: false), i >= (try c.int("max_window_layers", default: layerCount)) { windows[i] = window }
                case .evenLayers: if i % 2 == 0 { windows[i] = window }
                }
            }
        }
        self.windows = windows

        if family.gemmaAttention {
            attentionScale = Float(1 / (try c.double("query_pre_attn_scalar", default: Double(headDim))).squareRoot())
            attentionSoftcap = try c.optionalDouble("attn_logit_softcapping").map(Float.init)
            finalSoftcap = try c.optionalDouble("final_logit_softcapping").map(Float.init)
        } else {
            attentionScale = Float(1 / Double(headDim).squareRoot())
            attentionSoftcap = nil
            finalSoftcap = nil
        }
        embeddingScale = family.scalesEmbedding ? Float(Double(hiddenSize).squareRoot()) : 1
    }

    // MARK: tensor names

    /// The tensors of one block by role, as the checkpoint must hold them.
    public func blockTensors(_ layer: Int) -> BlockTensors {
        let p = family.blockPrefix.replacingOccurrences(of: "{i}", with: String(layer))
        func w(_ s: String) -> String { p + s + ".weight" }
        func b(_ s: String, _ present: Bool) -> String? { present ? p + s + ".bias" : nil }
        let qkv: [(weight: String, bias: String?)]
        switch family.attention {
        case .separate(let q, let k, let v): qkv = [(w(q), b(q, qkvBias)), (w(k), b(k, qkvBias)), (w(v), b(v, qkvBias))]
        case .fused(let f): qkv = [(w(f), b(f, qkvBias))]
        }
        let gateUp: [(weight: String, bias: String?)]
        switch family.mlp {
        case .separate(let g, let u): gateUp = [(w(g), b(g, mlpBias)), (w(u), b(u, mlpBias))]
        case .fused(let f): gateUp = [(w(f), b(f, mlpBias))]
        }
        return BlockTensors(
            qkv: qkv, output: (w(family.output), b(family.output, outputBias)), gateUp: gateUp,
            down: (w(family.down), b(family.down, mlpBias)), inputNorm: w(family.inputNorm),
            postAttentionNorm: family.postAttentionNorm.map(w), preMLPNorm: w(family.preMLPNorm),
            postMLPNorm: family.postMLPNorm.map(w), qNorm: family.qkNorm.map { w($0.q) }, kNorm: family.qkNorm.map { w($0.k) })
    }

    /// The head's weight: the embedding when tied.
    public var headTensor: String { tied ? family.embedding : family.head }

    /// Every tensor the forward pass reads, in the order it reads them: the embedding, each
    /// block's, the final norm, and the head unless tied.
    public var tensorNames: [String] {
        [family.embedding] + (0..<layerCount).flatMap { blockTensors($0).all } + [family.finalNorm] + (tied ? [] : [family.head])
    }

    /// The tensors outside the blocks: embedding, final norm, and the head unless tied.
    public var tensorsOutsideBlocks: [String] {
        [family.embedding, family.finalNorm] + (tied ? [] : [family.head])
    }

    public var qkvWidth: Int { (headCount + 2 * kvHeadCount) * headDim }
    public var attentionWidth: Int { headCount * headDim }
}

/// The tensor names of one block, by role (weights, then optional biases).
public struct BlockTensors: Sendable {
    /// q, k, v in this order (or one fused projection).
    public let qkv: [(weight: String, bias: String?)]
    public let output: (weight: String, bias: String?)
    /// gate, up in this order (or one fused projection).
    public let gateUp: [(weight: String, bias: String?)]
    public let down: (weight: String, bias: String?)
    public let inputNorm: String
    public let postAttentionNorm: String?
    public let preMLPNorm: String
    public let postMLPNorm: String?
    public let qNorm: String?
    public let kNorm: String?

    /// Every tensor name of the block.
    public var all: [String] {
        var names = qkv.flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) }
        names += [output.weight] + (output.bias.map { [$0] } ?? [])
        names += gateUp.flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) }
        names += [down.weight] + (down.bias.map { [$0] } ?? [])
        names += [inputNorm, preMLPNorm] + [postAttentionNorm, postMLPNorm, qNorm, kNorm].compactMap { $0 }
        return names
    }
}

/// Typed reads of config.json with readable errors.
struct ConfigReader {
    let config: JSONObject
    init(_ config: JSONObject) { self.config = config }

    func optionalInt(_ key: String) throws(EvalError) -> Int? {
        guard let value = config[key], value != .null else { return nil }
        guard let n = value.int64Value else { throw EvalError("config.json: \(key) is not an integer") }
        return Int(n)
    }

    func int(_ key: String, default fallback: Int? = nil) throws(EvalError) -> Int {
        if let n = try optionalInt(key) { return n }
        guard let fallback else { throw EvalError("config.json has no \(key)") }
        return fallback
    }

    func optionalDouble(_ key: String) throws(EvalError) -> Double? {
        guard let value = config[key], value != .null else { return nil }
        guard let d = value.doubleValue else { throw EvalError("config.json: \(key) is not a number") }
        return d
    }

    func double(_ key: String, default fallback: Double) throws(EvalError) -> Double {
        try optionalDouble(key) ?? fallback
    }

    func bool(_ key: String, default fallback: Bool) throws(EvalError) -> Bool {
        guard let value = config[key], value != .null else { return fallback }
        guard let b = value.boolValue else { throw EvalError("config.json: \(key) is not true or false") }
        return b
    }
}
