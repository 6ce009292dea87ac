import TensorIO

/// One block's weights in Float32, read from the weight source (BF16/F16/F32/… converted) when
/// the block's turn comes, into buffers the next block reuses: the streaming unit of the
/// forward pass.
/// Separate q/k/v (gate/up) projections are stacked into one matrix, so that fused and separate
/// checkpoints run the same code: rows are q, k, v (gate, up) in this order.
final class LayerWeights: Sendable {
    let qkv: Floats, qkvBias: Floats?
    let output: Floats, outputBias: Floats?
    let gateUp: Floats, gateUpBias: Floats?
    let down: Floats, downBias: Floats?
    let inputNorm: Floats, preMLPNorm: Floats
    let postAttentionNorm: Floats?, postMLPNorm: Floats?
    let qNorm: Floats?, kNorm: Floats?

    /// Reads block `layer` into `storage`'s buffers (which hold the previous block until now).
    init(_ weights: any WeightSource, architecture a: Architecture, layer: Int, storage: BlockStorage) throws {
        let t = a.blockTensors(layer)
        let loader = TensorLoader(weights: weights, normStyle: a.family.normStyle, storage: storage)
        let h = a.hiddenSize
        let qRows = [a.headCount * a.headDim, a.kvHeadCount * a.headDim, a.kvHeadCount * a.headDim]
        let qkvParts = t.qkv.count == 1 ? [a.qkvWidth] : qRows
        qkv = try loader.stacked(t.qkv.map(\.weight), rows: qkvParts, columns: h, role: "qkv")
        qkvBias = a.qkvBias ? try loader.stacked(t.qkv.map { $0.bias! }, rows: qkvParts, columns: nil, role: "qkvBias") : nil
        output = try loader.stacked([t.output.weight], rows: [h], columns: a.attentionWidth, role: "output")
        outputBias = try t.output.bias.map { try loader.stacked([$0], rows: [h], columns: nil, role: "outputBias") }
        let guParts = t.gateUp.count == 1 ? [2 * a.intermediateSize] : [a.intermediateSize, a.intermediateSize]
        gateUp = try loader.stacked(t.gateUp.map(\.weight), rows: guParts, columns: h, role: "gateUp")
        gateUpBias = a.mlpBias ? try loader.stacked(t.gateUp.map { $0.bias! }, rows: guParts, columns: nil, role: "gateUpBias") : nil
        down = try loader.stacked([t.down.weight], rows: [h], columns: a.intermediateSize, role: "down")
        downBias = try t.down.bias.map { try loader.stacked([$0], rows: [h], columns: nil, role: "downBias") }
        inputNorm = try loader.norm(t.inputNorm, size: h, role: "inputNorm")
        preMLPNorm = try loader.norm(t.preMLPNorm, size: h, role: "preMLPNorm")
        postAttentionNorm = try t.postAttentionNorm.map { try loader.norm($0, size: h, role: "postAttentionNorm") }
        postMLPNorm = try t.postMLPNorm.map { try loader.norm($0, size: h, role: "postMLPNorm") }
        qNorm = try t.qNorm.map { try loader.norm($0, size: a.headDim, role: "qNorm") }
        kNorm = try t.kNorm.map { try loader.norm($0, size: a.headDim, role: "kNorm") }
    }
}

/// Float32 buffers for a block's weights, kept from one block to the next: the blocks of a
/// model have the same shapes, so after the first block none allocates (fresh multi-megabyte
/// allocations are zeroed by the kernel on first touch). One per forward pass.
final class BlockStorage: @unchecked Sendable {
    private var buffers: [String: Floats] = [:]

    /// The buffer for `role`, of `count` floats (contents undefined).
    func buffer(_ role: String, count: Int) -> Floats {
        if let kept = buffers[role], kept.count == count { return kept }
        let fresh = Floats(uninitializedCount: count)
        buffers[role] = fresh
        return fresh
    }
}

/// Reads tensors into Float32 with their shapes checked.
struct TensorLoader {
    let weights: any WeightSource
    let normStyle: ModelFamily.NormStyle
    /// Where block weights go (by role); nil: fresh buffers (the head and final norm).
    var storage: BlockStorage? = nil

    /// Tensors stacked by rows: each `names[i]` has shape [rows[i], columns] (or [rows[i]] when
    /// `columns` is nil, for biases).
    func stacked(_ names: [String], rows: [Int], columns: Int?, role: String? = nil) throws -> Floats {
        let width = columns ?? 1, count = rows.reduce(0, +) * width
        let out = role.flatMap { storage?.buffer($0, count: count) } ?? Floats(uninitializedCount: count)
        var offset = 0
        for (name, r) in zip(names, rows) {
            let expected = columns.map { [r, $0] } ?? [r]
            guard let shape = weights.shape(of: name), shape == expected else {
                throw EvalError("\(name) has shape \(weights.shape(of: name) ?? []), expected \(expected) from config.json")
            }
            try weights.read(name, 0..<(r * width), into: UnsafeMutableBufferPointer(start: out.base + offset, count: r * width))
            weights.release(name)
            offset += r * width
        }
        return out
    }

    /// A norm weight, as the multiplier applied: `w`, or `1 + w` for Gemma-style norms.
    func norm(_ name: String, size: Int, role: String? = nil) throws -> Floats {
        let w = try stacked([name], rows: [size], columns: nil, role: role)
        if normStyle == .rmsOnePlusWeight {
            for i in 0..<size { w.base[i] = 1 + w.base[i] }
        }
        return w
    }
}
