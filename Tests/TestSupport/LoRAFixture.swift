import Foundation

/// PEFT LoRA adapter folders for the bundled example model (`examples/models/base`, Llama
/// shaped: hidden 32, intermediate 64), written as PEFT saves them.
public enum LoRAFixture {
    /// Writes `root/name` with rank-4 updates of layer 0's q_proj ([32, 32]) and layer 1's
    /// down_proj ([32, 64]; read as [in 32, out 64] when `fanInFanOut`), random values from
    /// `seed`, `lora_alpha` 8 (s = 2, or 4 with `rsLoRA`), and `extra` merged into the config.
    @discardableResult
    public static func write(_ root: String, _ name: String, seed: UInt64 = 1, fanInFanOut: Bool = false, rsLoRA: Bool = false,
                             extra: [String: Any] = [:]) throws -> String {
        var rng = SplitMix64(seed: seed)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -0.5...0.5, using: &rng) } }
        let r = 4
        let (downIn, downOut) = fanInFanOut ? (32, 64) : (64, 32)
        let prefix = "base_model.model.model.layers."
        let path = try CheckpointBuilder.write(root, name, [
            (prefix + "0.self_attn.q_proj.lora_A.weight", [r, 32], values(r * 32)),
            (prefix + "0.self_attn.q_proj.lora_B.weight", [32, r], values(32 * r)),
            (prefix + "1.mlp.down_proj.lora_A.weight", [r, downIn], values(r * downIn)),
            (prefix + "1.mlp.down_proj.lora_B.weight", [downOut, r], values(downOut * r)),
        ])
        var config: [String: Any] = ["peft_type": "LORA", "r": r, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"],
                                     "fan_in_fan_out": fanInFanOut, "use_rslora": rsLoRA]
        config.merge(extra) { $1 }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path + "/adapter_config.json"))
        // A PEFT folder holds adapter_model.safetensors.
        try FileManager.default.moveItem(atPath: path + "/model.safetensors", toPath: path + "/adapter_model.safetensors")
        return path
    }

    /// A linear merge config of `examples/models/base+ADAPTER` alone with weight 1, Float32 out:
    /// its output is the adapted model itself.
    public static func config(adapter: String) -> String {
        """
        models:
          - model: examples/models/base+\(adapter)
            parameters: {weight: 1.0}
        merge_method: linear
        dtype: float32
        """
    }
}
