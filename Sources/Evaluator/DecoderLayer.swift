/// One decoder block applied to a window's residual stream, in three phases so that each is a
/// set of independent tasks over fixed row blocks or heads:
///   1. `project` (per row block): input norm, q/k/v projection (+ bias), q/k norms, RoPE;
///   2. `Attention.head` (per head);
///   3. `finish` (per row block): output projection, [sandwich norm], residual add,
///      pre-MLP norm, gate/up projection, activation × up, down projection, [sandwich norm],
///      residual add.
struct DecoderLayer {
    static let blockRows = 128

    /// Floats of scratch `project` and `finish` need for one row block.
    static func scratchCount(_ a: Architecture) -> Int { blockRows * (2 * a.hiddenSize + 3 * a.intermediateSize) }

    let architecture: Architecture
    let weights: LayerWeights
    let window: Int?

    /// The activations of one window (`length` tokens) for one block.
    final class Activations: Sendable {
        let length: Int
        /// The residual stream, length × hidden.
        let stream: Floats
        /// q/k/v projections, length × qkvWidth.
        let qkv: Floats
        /// Attention output, length × attentionWidth.
        let attention: Floats
        /// The stream entering the block (for layer scores), or nil.
        let entering: Floats?

        init(length: Int, architecture a: Architecture, keepEntering: Bool) {
            self.length = length
            stream = Floats(count: length * a.hiddenSize)
            qkv = Floats(count: length * a.qkvWidth)
            attention = Floats(count: length * a.attentionWidth)
            entering = keepEntering ? Floats(count: length * a.hiddenSize) : nil
        }
    }

    /// Phase 1 for rows `rows`; `scratch` holds `scratchCount` floats.
    func project(_ act: Activations, rows: Range<Int>, rope: (cos: Floats, sin: Floats), scratch: UnsafeMutablePointer<Float>) {
        let a = architecture, h = a.hiddenSize, w = a.qkvWidth, n = rows.count
        if let entering = act.entering {
            (entering.base + rows.lowerBound * h).update(from: act.stream.base + rows.lowerBound * h, count: n * h)
        }
        let normed = scratch
        for r in 0..<n {
            Kernels.rmsNorm(act.stream.base + (rows.lowerBound + r) * h, h, weight: weights.inputNorm.base, epsilon: a.epsilon,
                            into: normed + r * h)
        }
        let y = act.qkv.base + rows.lowerBound * w
        BLAS.matmulTransposed(m: n, n: w, k: h, a: normed, lda: h, b: weights.qkv.base, ldb: h, c: y, ldc: w)
        if let bias = weights.qkvBias { Kernels.addBias(y, rows: n, n: w, ld: w, bias: bias.base) }
        let hd = a.headDim, half = a.rope.rotaryDim / 2
        for r in 0..<n {
            let row = y + r * w
            let position = rows.lowerBound + r
            let cos = rope.cos.base + position * half, sin = rope.sin.base + position * half
            for head in 0..<(a.headCount + a.kvHeadCount) {
                let x = row + head * hd
                if let norm = head < a.headCount ? weights.qNorm : weights.kNorm {
                    Kernels.rmsNorm(x, hd, weight: norm.base, epsilon: a.epsilon, into: x)
                }
                RoPEConfig.rotate(x, half: half, cos: cos, sin: sin)
            }
        }
    }

    /// Phase 3 for rows `rows`; `scratch` holds `scratchCount` floats. Returns the sum over
    /// `scored ∩ rows` of the cosine between the stream entering and leaving the block (0
    /// without `entering`).
    func finish(_ act: Activations, rows: Range<Int>, scored: Range<Int>, scratch: UnsafeMutablePointer<Float>) -> Double {
        let a = architecture, h = a.hiddenSize, inter = a.intermediateSize, n = rows.count
        let stream = act.stream.base + rows.lowerBound * h
        let tmp = scratch, normed = tmp + n * h, gu = normed + n * h, hidden = gu + n * 2 * inter
        BLAS.matmulTransposed(m: n, n: h, k: a.attentionWidth, a: act.attention.base + rows.lowerBound * a.attentionWidth,
                              lda: a.attentionWidth, b: weights.output.base, ldb: a.attentionWidth, c: tmp, ldc: h)
        if let bias = weights.outputBias { Kernels.addBias(tmp, rows: n, n: h, ld: h, bias: bias.base) }
        addResidual(tmp, into: stream, rows: n, norm: weights.postAttentionNorm)

        for r in 0..<n {
            Kernels.rmsNorm(stream + r * h, h, weight: weights.preMLPNorm.base, epsilon: a.epsilon, into: normed + r * h)
        }
        BLAS.matmulTransposed(m: n, n: 2 * inter, k: h, a: normed, lda: h, b: weights.gateUp.base, ldb: h, c: gu, ldc: 2 * inter)
        if let bias = weights.gateUpBias { Kernels.addBias(gu, rows: n, n: 2 * inter, ld: 2 * inter, bias: bias.base) }
        for r in 0..<n {
            let g = gu + r * 2 * inter, u = g + inter, o = hidden + r * inter
            switch a.activation {
            case .silu: for i in 0..<inter { o[i] = Kernels.silu(g[i]) * u[i] }
            case .geluTanh: for i in 0..<inter { o[i] = Kernels.geluTanh(g[i]) * u[i] }
            }
        }
        BLAS.matmulTransposed(m: n, n: h, k: inter, a: hidden, lda: inter, b: weights.down.base, ldb: inter, c: tmp, ldc: h)
        if let bias = weights.downBias { Kernels.addBias(tmp, rows: n, n: h, ld: h, bias: bias.base) }
        addResidual(tmp, into: stream, rows: n, norm: weights.postMLPNorm)

        guard let entering = act.entering else { return 0 }
        return BlockInfluence.cosineSum(entering.base, act.stream.base, h: h, rows: rows, scored: scored)
    }

    /// stream += norm(delta) (or delta when there is no sandwich norm).
    private func addResidual(_ delta: UnsafeMutablePointer<Float>, into stream: UnsafeMutablePointer<Float>, rows: Int, norm: Floats?) {
        let h = architecture.hiddenSize
        for r in 0..<rows {
            let d = delta + r * h
            if let norm { Kernels.rmsNorm(d, h, weight: norm.base, epsilon: architecture.epsilon, into: d) }
            let s = stream + r * h
            for i in 0..<h { s[i] += d[i] }
        }
    }
}
