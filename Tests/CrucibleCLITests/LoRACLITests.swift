import Foundation
import Testing
import TestSupport

/// `model+adapter` inputs (PEFT LoRA): each adapted weight is read as W + s·B·A, bit for bit
/// numpy's; adapters Crucible cannot apply are refused with the reason.
@Suite struct LoRACLITests {
    let cli = CLITests()

    func mergedAgainstNumpy(fanInFanOut: Bool, rsLoRA: Bool) throws {
        let root = cli.temporaryPath("lora")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", fanInFanOut: fanInFanOut, rsLoRA: rsLoRA)
        let config = root + "/lora.yml", out = root + "/merged"
        try LoRAFixture.config(adapter: adapter).write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cli.run(["merge", config, out, "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try LoRAFixture.againstNumpy(merged: out, adapter: adapter)
        // The update moved both adapted weights (32·32 + 32·64 elements, nearly all of them)...
        #expect(check.updated > 3000, "only \(check.updated) elements differ from the base")
        // ...to exactly numpy's W + s·B·A in the same order of operations.
        #expect(check.differing == 0, "\(check.differing) elements differ from numpy, by up to \(check.worst) (relative)")
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
