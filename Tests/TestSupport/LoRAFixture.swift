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

    /// numpy: reads the base model and the adapter and forms every adapted weight as
    /// `Float32(W + s · Σₖ B[:, k] · A[k, :])` in Float64, k ascending, each operation rounded on
    /// its own (the order LoRAUpdate documents); prints the largest |got − want| / (1 + |want|)
    /// over every tensor of `merged`, how many elements differ at all, and how many the update moved.
    static let reference = #"""
    import json, struct, sys, numpy as np
    def load(path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
        out = {}
        for name, info in header.items():
            if name == "__metadata__": continue
            a, b = info["data_offsets"]; raw = data[a:b]
            if info["dtype"] == "BF16":
                v = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                v = np.frombuffer(raw, dtype=np.float32)
            out[name] = v.reshape(info["shape"]).astype(np.float64)
        return out
    base, adapter, merged = load(sys.argv[1]), load(sys.argv[2] + "/adapter_model.safetensors"), load(sys.argv[3])
    config = json.load(open(sys.argv[2] + "/adapter_config.json"))
    s = config["lora_alpha"] / (np.sqrt(config["r"]) if config.get("use_rslora") else config["r"])
    want = {name: w.astype(np.float32).astype(np.float64) for name, w in base.items()}
    for name in adapter:
        if not name.endswith(".lora_A.weight"): continue
        module = name[:-len(".lora_A.weight")]
        target = module[len("base_model.model."):] + ".weight"
        A, B = adapter[name], adapter[module + ".lora_B.weight"]
        total = np.zeros((B.shape[0], A.shape[1]))
        for k in range(A.shape[0]):
            total += B[:, k:k + 1] * A[k:k + 1, :]
        update = s * total
        want[target] = (base[target] + (update.T if config.get("fan_in_fan_out") else update)).astype(np.float32).astype(np.float64)
    worst, differing, updated = 0.0, 0, 0
    for name, w in want.items():
        got = merged[name]
        worst = max(worst, float(np.max(np.abs(got - w) / (1 + np.abs(w)))))
        differing += int(np.sum(got != w))
        updated += int(np.sum(w != base[name]))
    print(worst, differing, updated)
    """#

    /// `merged` (a checkpoint file or folder of the adapted base model alone) against
    /// `reference`'s numpy computation for `adapter` on examples/models/base.
    public static func againstNumpy(merged: String, adapter: String) throws -> (worst: Double, differing: Int, updated: Int) {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("lora-reference-\(UUID().uuidString).py").path
        try reference.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let file = merged.hasSuffix(".safetensors") ? merged : merged + "/model.safetensors"
        let check = try Python.run([script, Fixtures.repository + "/examples/models/base/model.safetensors", adapter, file])
        let fields = check.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard check.status == 0, fields.count == 3, let worst = Double(fields[0]), let differing = Int(fields[1]), let updated = Int(fields[2]) else {
            throw LoRAReferenceError(description: "the numpy reference failed: \(check.stdout) \(check.stderr)")
        }
        return (worst, differing, updated)
    }
}

struct LoRAReferenceError: Error, CustomStringConvertible {
    let description: String
}
