import Foundation
import Testing
import TestSupport

/// `model+adapter` inputs (PEFT LoRA): each adapted weight is read as W + s·B·A, checked
/// against numpy; adapters Crucible cannot apply are refused with the reason.
@Suite struct LoRACLITests {
    let cli = CLITests()

    /// numpy: reads the base model and the adapter, prints the largest |got − want| / (1 + |want|)
    /// over every tensor of `merged`, and how many elements differ at all.
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
    want = dict(base)
    for name in adapter:
        if not name.endswith(".lora_A.weight"): continue
        module = name[:-len(".lora_A.weight")]
        target = module[len("base_model.model."):] + ".weight"
        update = s * (adapter[module + ".lora_B.weight"] @ adapter[name])
        want[target] = want[target] + (update.T if config.get("fan_in_fan_out") else update)
    worst, differing, updated = 0.0, 0, 0
    for name, w in want.items():
        w32 = w.astype(np.float32).astype(np.float64)
        got = merged[name]
        worst = max(worst, float(np.max(np.abs(got - w32) / (1 + np.abs(w32)))))
        differing += int(np.sum(got != w32))
        updated += int(np.sum(w32 != base[name]))
    print(worst, differing, updated)
    """#

    func mergedAgainstNumpy(fanInFanOut: Bool, rsLoRA: Bool) throws {
        let root = cli.temporaryPath("lora")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", fanInFanOut: fanInFanOut, rsLoRA: rsLoRA)
        let config = root + "/lora.yml", out = root + "/merged"
        try LoRAFixture.config(adapter: adapter).write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cli.run(["merge", config, out, "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let script = root + "/reference.py"
        try Self.reference.write(toFile: script, atomically: true, encoding: .utf8)
        let check = try Python.run([script, Fixtures.repository + "/examples/models/base/model.safetensors", adapter, out + "/model.safetensors"])
        #expect(check.status == 0, "\(check.stderr)")
        let fields = check.stdout.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(fields.count == 3, "\(check.stdout)")
        guard fields.count == 3 else { return }
        // The update moved both adapted weights (32·32 + 32·64 elements, nearly all of them)...
        #expect(fields[2] > 3000, "only \(fields[2]) elements differ from the base")
        // ...to numpy's W + s·B·A, rounded once to Float32: equal but for rare ties in the last bit.
        #expect(fields[0] < 1e-6, "largest relative difference \(fields[0])")
        #expect(fields[1] <= 5, "\(fields[1]) elements differ from numpy")
    }

    @Test("model+adapter: every adapted weight is numpy's W + s·B·A, the others the model's own", arguments: [false, true])
    func matchesNumpy(rsLoRA: Bool) throws {
        guard Python.hasNumpy else { return }
        try mergedAgainstNumpy(fanInFanOut: false, rsLoRA: rsLoRA)
    }

    @Test("fan_in_fan_out: the update is (B·A)ᵀ")
    func fanInFanOut() throws {
        guard Python.hasNumpy else { return }
        try mergedAgainstNumpy(fanInFanOut: true, rsLoRA: false)
    }

    @Test("adapters that cannot be applied are refused before any work, with the reason", arguments: [
        (["use_dora": true], "DoRA"),
        (["rank_pattern": ["q_proj": 8]], "rank_pattern"),
        (["peft_type": "IA3"], "peft_type IA3"),
        (["r": 0], "r (a positive number)"),
    ] as [([String: any Sendable], String)])
    func refused(extra: [String: any Sendable], reason: String) throws {
        let root = cli.temporaryPath("lora-bad")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", extra: extra)
        let config = root + "/lora.yml", out = root + "/merged"
        try LoRAFixture.config(adapter: adapter).write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cli.run(["merge", config, out, "-q"])
        #expect(r.status != 0)
        #expect(r.stderr.contains(reason), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".partial"))
    }

    @Test("an adapter whose shapes do not fit the model, or a folder that is no adapter, is refused")
    func mismatched() throws {
        let root = cli.temporaryPath("lora-shape")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // fan_in_fan_out claimed for a q_proj/down_proj adapter made for the plain layout.
        let adapter = try LoRAFixture.write(root, "adapter", extra: ["fan_in_fan_out": true])
        let config = root + "/lora.yml"
        try LoRAFixture.config(adapter: adapter).write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cli.run(["merge", config, root + "/merged", "-q"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("do not fit the weight"), "\(r.stderr)")
        try LoRAFixture.config(adapter: Fixtures.repository + "/examples/models/ft1").write(toFile: config, atomically: true, encoding: .utf8)
        let notAdapter = try cli.run(["merge", config, root + "/merged2", "-q"])
        #expect(notAdapter.status != 0)
        #expect(notAdapter.stderr.contains("no adapter_config.json"), "\(notAdapter.stderr)")
    }

    @Test("a later stage may adapt an earlier stage's output (`soup+adapter`): it waits for it and reads it with the update")
    func stageWithAdapter() throws {
        let root = cli.temporaryPath("lora-stages")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", seed: 3)
        let single = root + "/single.yml", multi = root + "/multi.yml"
        // The soup first as a merge of its own, then adapted alone: the reference.
        let soup = """
            merge_method: linear
            models:
              - model: examples/models/base
                parameters: {weight: 0.5}
              - model: examples/models/ft1
                parameters: {weight: 0.5}
            dtype: float32
            """
        try soup.write(toFile: single, atomically: true, encoding: .utf8)
        let soupOut = root + "/soup-reference"
        #expect(try cli.run(["merge", single, soupOut, "-q"]).status == 0)
        try LoRAFixture.config(adapter: adapter).replacingOccurrences(of: "examples/models/base+", with: soupOut + "+")
            .write(toFile: single, atomically: true, encoding: .utf8)
        let reference = root + "/reference"
        let r1 = try cli.run(["merge", single, reference, "-q"])
        #expect(r1.status == 0, "\(r1.stderr)")
        // The same as two documents, the adapted stage written first so that order comes from the dependency.
        try (LoRAFixture.config(adapter: adapter).replacingOccurrences(of: "examples/models/base+", with: "soup+")
            + "\n---\nname: soup\n" + soup + "\n").write(toFile: multi, atomically: true, encoding: .utf8)
        let out = root + "/staged"
        let r2 = try cli.run(["merge", multi, out, "-q"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
            == Data(contentsOf: URL(fileURLWithPath: reference + "/model.safetensors")))
    }
}
