import ArgumentParser
import CrucibleMath
import Dispatch
import Foundation
import TensorIO

/// Writes a base model and fine-tunes of it with known statistics, deterministically.
struct Synthesize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic Llama-shaped base model and fine-tunes of it (deterministic).",
        discussion: """
            Base weights are N(0, 0.02²) (norms 1 + N(0, 0.02²)); fine-tune i adds N(0, delta²) to every
            element, except the last fine-tune when --sparse is given, which changes 10% of elements by
            N(0, (8·delta)²). Every value comes from Philox keyed by (seed, model, tensor), so the same
            arguments always write the same bytes. Writes DIR/base, DIR/ft1, ... with config.json and
            a tiny tokenizer_config.json.
            """
    )

    @Argument(help: "Output folder.") var directory: String
    @Option var vocab = 96
    @Option var hidden = 48
    @Option var intermediate = 80
    @Option var layers = 4
    @Option var heads = 6
    @Option var kvHeads = 2
    @Flag(help: "Tie lm_head to the input embeddings (no lm_head tensor).") var tied = false
    @Option(help: "Number of fine-tunes.") var fineTunes = 2
    @Option(help: "Standard deviation of fine-tune deltas.") var delta: Float = 0.003
    @Flag(help: "Make the last fine-tune sparse with larger deltas.") var sparse = false
    @Option(help: "bfloat16, float16 or float32.") var dtype = "bfloat16"
    @Option var seed: UInt64 = 0
    @Option(help: "Shard size (K/M/B suffixes).") var shardSize = "5B"

    func run() throws {
        guard let storage = DType(torchName: dtype), storage.isWritableFromFloat32 else {
            throw ValidationError("--dtype must be bfloat16, float16, float32 or float64")
        }
        guard let budget = ByteCount.parse(shardSize) else { throw ValidationError("bad --shard-size") }
        let shape = LlamaShape(vocab: vocab, hidden: hidden, intermediate: intermediate, layers: layers,
                               heads: heads, kvHeads: kvHeads, tied: tied)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for model in 0...fineTunes {
            let name = model == 0 ? "base" : "ft\(model)"
            let path = FileSystem.join(directory, name)
            let specs = shape.tensors.map { SafeTensorsLayout.Spec(name: $0.name, dtype: storage, shape: $0.shape) }
            let writer = try CheckpointWriter(directory: path, tensors: specs, shardBudget: budget)
            do {
                for tensor in shape.tensors {
                    try write(tensor.name, count: tensor.shape.reduce(1, *), model: model, storage: storage, writer: writer)
                }
                try writer.writeFile("config.json", contents: shape.config(dtype: storage.torchName!))
                try writer.writeFile("tokenizer_config.json", contents: "{\n  \"model_max_length\": 2048,\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n")
                try writer.finish()
            } catch {
                writer.abandon()
                throw error
            }
            print("wrote \(path) (\(shape.parameterCount) parameters, \(storage.rawValue))")
        }
    }

    /// Fills one tensor in parallel chunks; each element's value depends only on its index.
    private func write(_ name: String, count: Int, model: Int, storage: DType, writer: CheckpointWriter) throws {
        let isNorm = name.hasSuffix("norm.weight")
        let baseStream = Philox(seed: seed, stream: 0, name: name)
        let deltaStream = Philox(seed: seed, stream: UInt64(model), name: name)
        let sparseModel = sparse && model == fineTunes && model > 0
        let chunk = 1 << 20
        let chunks = (count + chunk - 1) / chunk
        let width = storage.bitWidth / 8
        let delta = self.delta
        let failure = FailureBox()
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let range = (c * chunk)..<min(count, (c + 1) * chunk)
            var values = [Float](repeating: 0, count: range.count)
            values.withUnsafeMutableBufferPointer { v in
                baseStream.normal(first: range.lowerBound, into: v)
                for i in 0..<v.count { v[i] = (isNorm ? 1 : 0) + 0.02 * v[i] }
                if model > 0 {
                    for i in 0..<v.count {
                        let e = range.lowerBound + i
                        let noise = deltaStream.normal(element: e)
                        if sparseModel {
                            if Philox.unitFloat(deltaStream.block(UInt64(e >> 2))[e & 3]) < 0.1 { v[i] += 8 * delta * noise }
                        } else {
                            v[i] += delta * noise
                        }
                    }
                }
            }
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: range.count * width, alignment: 16)
            defer { bytes.deallocate() }
            values.withUnsafeBufferPointer { Conversion.fromFloat32($0, to: storage, into: bytes) }
            do { try writer.write(name, at: range.lowerBound * width, bytes: UnsafeRawBufferPointer(bytes)) } catch { failure.set(error) }
        }
        if let error = failure.error { throw error }
    }
}

/// The first error raised by concurrent work.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? { lock.withLock { stored } }
    func set(_ error: Error) { lock.withLock { if stored == nil { stored = error } } }
}
