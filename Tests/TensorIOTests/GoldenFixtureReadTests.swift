import Foundation
import Testing
import TensorIO
import TestSupport

let goldenModels = ["base", "ft0", "ft1", "ft2"]

/// Reads a safetensors file with python's json + struct and numpy, independently of TensorIO:
/// every tensor's dtype, shape and offsets, and the float32 bit patterns of the tensors asked for.
private let pythonReader = #"""
import json, struct, sys
import numpy as np
path, wanted = sys.argv[1], sys.argv[2:]
with open(path, "rb") as f:
    blob = f.read()
(n,) = struct.unpack("<Q", blob[:8])
header = json.loads(blob[8:8 + n].decode("utf-8"))
start = 8 + n
out = {"data_start": start, "file_size": len(blob), "metadata": header.pop("__metadata__", {}), "tensors": {}}
for name, entry in header.items():
    item = {"dtype": entry["dtype"], "shape": entry["shape"], "offsets": entry["data_offsets"]}
    if name in wanted:
        b, e = entry["data_offsets"]
        values = np.frombuffer(blob, dtype="<f4", count=(e - b) // 4, offset=start + b)
        item["bits"] = values.view("<u4").tolist()
        item["sum"] = float(values.astype(np.float64).sum())
    out["tensors"][name] = item
print(json.dumps(out))
"""#

private func runPython(_ arguments: [String]) throws -> [String: Any] {
    let result = try Python.run(["-c", pythonReader] + arguments)
    try #require(result.status == 0, "python failed: \(result.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
}

/// The config, read with Foundation (independent of TensorIO's JSON parser).
private func foundationConfig(_ model: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.goldenModels + "/\(model)/config.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// Tensor names and shapes a Llama checkpoint with this config must hold.
private func expectedLlamaTensors(_ config: [String: Any]) throws -> [String: [Int]] {
    let hidden = try #require(config["hidden_size"] as? Int)
    let vocab = try #require(config["vocab_size"] as? Int)
    let intermediate = try #require(config["intermediate_size"] as? Int)
    let heads = try #require(config["num_attention_heads"] as? Int)
    let kvHeads = try #require(config["num_key_value_heads"] as? Int)
    let layers = try #require(config["num_hidden_layers"] as? Int)
    let headDim = (config["head_dim"] as? Int) ?? hidden / heads
    var shapes = ["model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden], "lm_head.weight": [vocab, hidden]]
    for i in 0..<layers {
        let p = "model.layers.\(i)."
        shapes[p + "input_layernorm.weight"] = [hidden]
        shapes[p + "post_attention_layernorm.weight"] = [hidden]
        shapes[p + "self_attn.q_proj.weight"] = [heads * headDim, hidden]
        shapes[p + "self_attn.k_proj.weight"] = [kvHeads * headDim, hidden]
        shapes[p + "self_attn.v_proj.weight"] = [kvHeads * headDim, hidden]
        shapes[p + "self_attn.o_proj.weight"] = [hidden, heads * headDim]
        shapes[p + "mlp.gate_proj.weight"] = [intermediate, hidden]
        shapes[p + "mlp.up_proj.weight"] = [intermediate, hidden]
        shapes[p + "mlp.down_proj.weight"] = [hidden, intermediate]
    }
    return shapes
}

@Suite("Reading the mergekit golden fixture models")
struct GoldenFixtureReadTests {
    @Test("the config implies the documented tiny Llama shape")
    func configMatchesReadme() throws {
        let config = try foundationConfig("base")
        #expect(config["vocab_size"] as? Int == 96)
        #expect(config["hidden_size"] as? Int == 48)
        #expect(config["intermediate_size"] as? Int == 80)
        #expect(config["num_attention_heads"] as? Int == 6)
        #expect(config["head_dim"] as? Int == 8)
        #expect(config["num_key_value_heads"] as? Int == 2)
        #expect(config["num_hidden_layers"] as? Int == 4)
        let shapes = try expectedLlamaTensors(config)
        #expect(shapes.count == 39)
        #expect(shapes["model.layers.0.self_attn.q_proj.weight"] == [48, 48])
        #expect(shapes["model.layers.0.self_attn.k_proj.weight"] == [16, 48])
        #expect(shapes["model.layers.3.mlp.down_proj.weight"] == [48, 80])
        #expect(shapes["model.layers.3.mlp.gate_proj.weight"] == [80, 48])
    }

    @Test("each model has 39 F32 tensors named and shaped as its config implies", arguments: goldenModels)
    func tensorNamesAndShapes(model: String) throws {
        let file = try SafeTensorsFile(path: Fixtures.goldenModels + "/\(model)/model.safetensors")
        let expected = try expectedLlamaTensors(try foundationConfig(model))
        #expect(file.tensors.count == 39)
        #expect(Set(file.tensors.map(\.name)) == Set(expected.keys))
        for tensor in file.tensors {
            #expect(tensor.dtype == .f32, "\(tensor.name)")
            #expect(tensor.shape == expected[tensor.name], "\(tensor.name)")
            #expect(tensor.byteCount == tensor.elementCount * 4)
        }
        let totalBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        #expect(file.fileSize == file.header.dataStart + totalBytes)
    }

    @Test("headers and values agree with an independent python + numpy reader", .enabled(if: Python.hasNumpy, "needs python3 with numpy on PATH"), arguments: goldenModels)
    func valuesMatchPython(model: String) throws {
        let path = Fixtures.goldenModels + "/\(model)/model.safetensors"
        let sampled = ["model.embed_tokens.weight", "model.layers.2.self_attn.k_proj.weight", "model.layers.3.mlp.down_proj.weight",
                       "model.norm.weight", "lm_head.weight"]
        let python = try runPython([path] + sampled)
        let file = try SafeTensorsFile(path: path)

        #expect(python["data_start"] as? Int == file.header.dataStart)
        #expect(python["file_size"] as? Int == file.fileSize)
        let pyMetadata = try #require(python["metadata"] as? [String: String])
        #expect(pyMetadata == Dictionary(uniqueKeysWithValues: file.metadata.map { ($0.key, $0.value) }))
        let pyTensors = try #require(python["tensors"] as? [String: [String: Any]])
        #expect(pyTensors.count == file.tensors.count)
        for tensor in file.tensors {
            let py = try #require(pyTensors[tensor.name], "\(tensor.name) missing in python's view")
            #expect(py["dtype"] as? String == tensor.dtype.rawValue)
            #expect(py["shape"] as? [Int] == tensor.shape)
            #expect(py["offsets"] as? [UInt64] == [tensor.dataOffsets.lowerBound, tensor.dataOffsets.upperBound])
        }
        for name in sampled {
            let bits = try #require(pyTensors[name]?["bits"] as? [UInt32])
            let values = try file.tensor(name).float32()
            #expect(values.map(\.bitPattern) == bits, "\(name)")
            #expect(values.count == bits.count && !values.isEmpty)
            // A strided sub-range through readFloat32.
            var middle = [Float](repeating: 0, count: 5)
            try middle.withUnsafeMutableBufferPointer { try file.tensor(name).readFloat32(10..<15, into: $0) }
            #expect(middle.map(\.bitPattern) == Array(bits[10..<15]))
            // The data are real weights, not zeros.
            #expect(values.contains { $0 != 0 })
        }
    }

    @Test("Checkpoint opens each model folder, reads config.json and finds 4 layers", arguments: goldenModels)
    func checkpointReadsConfig(model: String) throws {
        let folder = Fixtures.goldenModels + "/\(model)"
        let checkpoint = try Checkpoint(path: folder)
        let config = try #require(checkpoint.config)
        let reference = try foundationConfig(model)
        #expect(Set(config.keys) == Set(reference.keys))
        #expect(config["hidden_size"] == .number("48"))
        #expect(config["num_hidden_layers"]?.int64Value == Int64(reference["num_hidden_layers"] as! Int))
        #expect(config["architectures"] == .array([.string("LlamaForCausalLM")]))
        #expect(config["model_type"]?.stringValue == "llama")
        #expect(config["tie_word_embeddings"] == .bool(false))
        #expect(config["pad_token_id"] == .null)
        #expect(config["rms_norm_eps"] == .number("1e-06"), "numbers keep their source text")
        #expect(config["rope_parameters"]?.objectValue?["rope_theta"] == .number("10000.0"))

        #expect(checkpoint.files.count == 1)
        #expect(checkpoint.tensorNames.count == 39)
        #expect(checkpoint.detectedLayerCount == 4)
        #expect(checkpoint.totalTensorBytes == checkpoint.tensorNames.reduce(0) { $0 + (checkpoint.info($1)?.elementCount ?? 0) * 4 })
        #expect(checkpoint.contains("lm_head.weight") && !checkpoint.contains("model.layers.4.mlp.up_proj.weight"))

        let summary = CheckpointSummary(checkpoint)
        #expect(summary.architecture == "LlamaForCausalLM")
        #expect(summary.layerCount == 4 && summary.configLayerCount == 4)
        #expect(summary.parameterCount == checkpoint.totalTensorBytes / 4)

        // Opening the file itself finds the same folder and config.
        let single = try Checkpoint(path: folder + "/model.safetensors")
        #expect(single.directory == folder)
        #expect(single.config == checkpoint.config)
        #expect(single.tensorNames == checkpoint.tensorNames)
    }

    @Test("the fine-tunes differ from base by small deltas (ft0, ft1) and sparse large ones (ft2)")
    func fineTunesDifferFromBase() throws {
        let base = try SafeTensorsFile(path: Fixtures.goldenModels + "/base/model.safetensors")
        let name = "model.layers.1.mlp.up_proj.weight"
        let b = try base.tensor(name).float32()
        for model in ["ft0", "ft1", "ft2"] {
            let f = try SafeTensorsFile(path: Fixtures.goldenModels + "/\(model)/model.safetensors").tensor(name).float32()
            let deltas = zip(f, b).map { $0 - $1 }
            let changed = Double(deltas.filter { $0 != 0 }.count) / Double(deltas.count)
            if model == "ft2" {
                #expect(changed > 0.05 && changed < 0.2, "\(model): \(changed) of elements changed")
            } else {
                let rms = (deltas.reduce(0) { $0 + Double($1 * $1) } / Double(deltas.count)).squareRoot()
                #expect(changed > 0.99 && rms > 0.005 && rms < 0.02, "\(model): rms \(rms)")
            }
        }
    }
}
