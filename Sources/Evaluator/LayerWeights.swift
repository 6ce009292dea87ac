import TensorIO

/// One block's weights in Float32, read from the weight source (BF16/F16/F32/… converted) when
/// the block's turn comes and dropped after it: the streaming unit of the forward pass.
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

    init(_ weights: any WeightSource, architecture a: Architecture, layer: Int) throws {
        let t = a.blockTensors(layer)
        let loader = TensorLoader(weights: weights, normStyle: a.family.normStyle)
        let h = a.hiddenSize
        let qRows = [a.headCount * a.headDim, a.kvHeadCount * a.headDim, a.kvHeadCount * a.headDim]
        let qkvParts = t.qkv.count == 1 ? [a.qkvWidth] : qRows
        qkv = try loader.stacked(t.qkv.map(\.weight), rows: qkvParts, columns: h)
        qkvBias = a.qkvBias ? try loader.stacked(t.qkv.map { $0.bias! }, rows: qkvParts, columns: nil) : nil
        output = try loader.stacked([t.output.weight], rows: [h], columns: a.attentionWidth)
        outputBias = try t.output.bias.map { try loader.stacked([$0], rows: [h], columns: nil) }
        let guParts = t.gateUp.count == 1 ? [2 * a.intermediateSize] : [a.intermediateSize, a.intermediateSize]
        gateUp = try loader.stacked(t.gateUp.map(\.weight), rows: guParts, columns: h)
        gateUpBias = a.mlpBias ? try loader.stacked(t.gateUp.map { $0.bias! }, rows: guParts, columns: nil) : nil
        down = try loader.stacked([t.down.weight], rows: [h], columns: a.intermediateSize)
        downBias = try t.down.bias.map { try loader.stacked([$0], rows: [h], columns: nil) }
        inputNorm = try loader.norm(t.inputNorm, size: h)
        preMLPNorm = try loader.norm(t.preMLPNorm, size: h)
        postAttentionNorm = try t.postAttentionNorm.map { try loader.norm($0, size: h) }
        postMLPNorm = try t.postMLPNorm.map { try loader.norm($0, size: h) }
        qNorm = try t.qNorm.map { try loader.norm($0, size: a.headDim) }
        kNorm = try t.kNorm.map { try loader.norm($0, size: a.headDim) }
    }
}

/// Reads tensors into Float32 with their shapes checked.
struct TensorLoader {
    let weights: any WeightSource
    let normStyle: ModelFamily.NormStyle

    /// Tensors stacked by rows: each `names[i]` has shape [rows[i], columns] (or [rows[i]] when
    /// `columns` is nil, for biases).
    func stacked(_ names: [String], rows: [Int], columns: Int?) throws -> Floats {
        let width = columns ?? 1
        let out = Floats(uninitializedCount: rows.reduce(0, +) * width)
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
    func norm(_ name: String, size: Int) throws -> Floats {
        let w = try stacked([name], rows: [size], columns: nil)
        if normStyle == .rmsOnePlusWeight {
            for i in 0..<size { w.base[i] = 1 + w.base[i] }
        }
        return w
    }
}
