/// The dimensions of a Llama-style decoder, and the tensors such a model holds.
struct LlamaShape {
    var vocab: Int
    var hidden: Int
    var intermediate: Int
    var layers: Int
    var heads: Int
    var kvHeads: Int
    var tied: Bool

    var headDim: Int { hidden / heads }

    /// Tensor names and shapes in Hugging Face order: embeddings, layers, final norm, lm_head.
    var tensors: [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, hidden])]
        let kv = kvHeads * headDim
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            list += [
                (p + "input_layernorm.weight", [hidden]),
                (p + "self_attn.q_proj.weight", [hidden, hidden]),
                (p + "self_attn.k_proj.weight", [kv, hidden]),
                (p + "self_attn.v_proj.weight", [kv, hidden]),
                (p + "self_attn.o_proj.weight", [hidden, hidden]),
                (p + "post_attention_layernorm.weight", [hidden]),
                (p + "mlp.gate_proj.weight", [intermediate, hidden]),
                (p + "mlp.up_proj.weight", [intermediate, hidden]),
                (p + "mlp.down_proj.weight", [hidden, intermediate]),
            ]
        }
        list.append(("model.norm.weight", [hidden]))
        if !tied { list.append(("lm_head.weight", [vocab, hidden])) }
        return list
    }

    var parameterCount: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// A Hugging Face `config.json` for this shape.
    func config(dtype: String) -> String {
        """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": \(hidden),
          "intermediate_size": \(intermediate),
          "num_hidden_layers": \(layers),
          "num_attention_heads": \(heads),
          "num_key_value_heads": \(kvHeads),
          "head_dim": \(headDim),
          "vocab_size": \(vocab),
          "max_position_embeddings": 2048,
          "rms_norm_eps": 1e-06,
          "rope_theta": 10000.0,
          "hidden_act": "silu",
          "initializer_range": 0.02,
          "tie_word_embeddings": \(tied),
          "torch_dtype": "\(dtype)",
          "bos_token_id": 1,
          "eos_token_id": 2
        }

        """
    }
}
