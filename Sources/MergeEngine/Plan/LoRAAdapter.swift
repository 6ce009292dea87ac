import Foundation
import TensorIO

/// A PEFT LoRA adapter folder, as a config names it after a model: `model+adapter` (mergekit's
/// syntax). Each weight the adapter targets is read as `W + s · B · A` inside the merge
/// (`PlannedLoRA`), never written out as a merged copy.
///
/// Read from `adapter_config.json`: `r`, `lora_alpha`, `use_rslora` (s = alpha/√r, else
/// alpha/r), `fan_in_fan_out` (the weight is stored transposed, as in GPT-2's Conv1D, so the
/// update is `(B · A)ᵀ`). Refused with the reason: DoRA (`use_dora`), per-module ranks or
/// alphas (`rank_pattern`, `alpha_pattern`), and tensors other than `lora_A`/`lora_B` pairs
/// (`modules_to_save` copies, embedding LoRA).
public struct LoRAAdapter: Sendable {
    /// The adapter's weights (`adapter_model.safetensors`).
    public let checkpoint: Checkpoint
    public let scale: Double
    public let fanInFanOut: Bool
    /// The adapted weight's name in the model → its A ([r, in]) and B ([out, r]) tensors.
    public let pairs: [String: (a: String, b: String)]

    /// `reference` split at its `+` into the model and the adapter (nil when it names no
    /// adapter), as mergekit splits `model+lora`.
    public static func split(_ reference: String) -> (model: String, adapter: String?) {
        let parts = reference.split(separator: "+", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return (reference, nil) }
        return (String(parts[0]), String(parts[1]))
    }

    /// Opens the adapter in `folder`; throws a message naming what is wrong.
    public init(folder: String) throws {
        let configPath = FileSystem.join(folder, "adapter_config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw LoRAError("\(folder): no adapter_config.json (a PEFT LoRA adapter folder is expected after the +)")
        }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoRAError("\(configPath): not a JSON object")
        }
        if let type = config["peft_type"] as? String, type != "LORA" {
            throw LoRAError("\(configPath): peft_type \(type) is not supported (LoRA adapters only)")
        }
        if config["use_dora"] as? Bool == true {
            throw LoRAError("\(configPath): DoRA adapters (use_dora) are not supported: their magnitude vector changes the weight in another way")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = config[key] as? [String: Any], !pattern.isEmpty {
                throw LoRAError("\(configPath): \(key) (a rank or alpha per module) is not supported")
            }
        }
        guard let r = (config["r"] as? NSNumber)?.doubleValue, r > 0, let alpha = (config["lora_alpha"] as? NSNumber)?.doubleValue else {
            throw LoRAError("\(configPath): r (a positive number) and lora_alpha are required")
        }
        scale = config["use_rslora"] as? Bool == true ? alpha / r.squareRoot() : alpha / r
        fanInFanOut = config["fan_in_fan_out"] as? Bool ?? false
        checkpoint = try Checkpoint(path: folder)

        var pairs: [String: (a: String, b: String)] = [:]
        for name in checkpoint.tensorNames {
            guard let range = name.range(of: ".lora_A.weight"), range.upperBound == name.endIndex else {
                if !name.hasSuffix(".lora_B.weight") {
                    throw LoRAError("\(folder): tensor \(name) is not a lora_A/lora_B weight (modules_to_save and embedding LoRA are not supported)")
                }
                continue
            }
            let module = String(name[..<range.lowerBound])
            let b = module + ".lora_B.weight"
            guard checkpoint.contains(b) else { throw LoRAError("\(folder): \(name) has no \(b)") }
            // PEFT saves names under `base_model.model.`; the model's own name follows.
            let target = (module.hasPrefix("base_model.model.") ? String(module.dropFirst("base_model.model.".count)) : module) + ".weight"
            pairs[target] = (name, b)
        }
        guard !pairs.isEmpty else { throw LoRAError("\(folder): the adapter has no lora_A/lora_B weights") }
        self.pairs = pairs
    }
}

/// A LoRA adapter that cannot be used, with the reason.
public struct LoRAError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
