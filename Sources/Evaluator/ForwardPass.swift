import Foundation
import JobModel
import TensorIO

/// One window to run: its tokens, the positions whose next token is scored (position p
/// predicts `tokens[p + 1]`), and positions whose full logits are wanted (tests, debugging).
public struct WindowRequest: Sendable {
    public let tokens: [Int32]
    public let scored: Range<Int>
    public let logitPositions: [Int]

    public init(tokens: [Int32], scored: Range<Int>, logitPositions: [Int] = []) {
        precondition(scored.isEmpty || (scored.lowerBound >= 0 && scored.upperBound < tokens.count), "scored positions need a next token")
        self.tokens = tokens
        self.scored = scored
        self.logitPositions = logitPositions
    }
}

/// What the forward pass returns for one window.
public struct WindowResult: Sendable {
    /// −log p(tokens[p + 1] | tokens[...p]) for each scored position p, in order.
    public let losses: [Double]
    /// Full logits (after any final soft-capping) for each of `logitPositions`.
    public let logits: [[Float]]
    /// Per layer: the sum over scored positions of cos(stream entering, stream leaving) (empty
    /// unless layer scores were asked for).
    public let cosineSums: [Double]
}

/// The native forward pass of a decoder-only checkpoint, Float32 throughout. Blocks are
/// streamed: each is converted to Float32 when its turn comes and freed after it, so memory is
/// one block's weights, the batch's activations and the Float32 head (the embedding when tied).
/// Work is split into fixed row blocks and heads, every BLAS call runs on one thread, and sums
/// run in a fixed order: results are identical for any thread count and any batch size.
public final class ForwardPass: Sendable {
    public let architecture: Architecture
    let weights: any WeightSource
    /// Layers whose weights the source may lack: every run must skip them.
    let skipped: Set<Int>
    /// The head's weight, vocab × hidden, Float32.
    let head: Floats
    let finalNorm: Floats
    /// Vocabulary rows per head product.
    static let vocabChunk = 4096

    /// The forward pass of a checkpoint folder (its config.json and weights).
    public convenience init(checkpoint: Checkpoint) throws {
        guard let config = checkpoint.config else {
            throw EvalError("\(checkpoint.path): no config.json (crucible eval needs the model's architecture)")
        }
        try self.init(architecture: try Architecture(config: config), weights: TensorViewWeights(checkpoint), name: checkpoint.path)
    }

    /// The forward pass of `architecture` over `weights`; `name` names the model in errors.
    /// The head (and the final norm) is read now; blocks are read when each one's turn comes.
    /// The tensors of `skipped` layers, which every run will skip, need not exist (a worker
    /// measuring a layer's drop-loss is not sent them).
    public init(architecture a: Architecture, weights: any WeightSource, name: String, skipped: Set<Int> = []) throws {
        architecture = a
        self.weights = weights
        self.skipped = skipped
        let unread = Set(skipped.flatMap { a.blockTensors($0).all })
        let missing = a.tensorNames.filter { !unread.contains($0) && weights.shape(of: $0) == nil }
        if !missing.isEmpty {
            let list = missing.prefix(5).joined(separator: ", ") + (missing.count > 5 ? " and \(missing.count - 5) more" : "")
            throw EvalError("\(name): \(a.family.modelType) checkpoint lacks \(list)")
        }
        let loader = TensorLoader(weights: weights, normStyle: a.family.normStyle)
        head = try loader.stacked([a.headTensor], rows: [a.vocabSize], columns: a.hiddenSize)
        finalNorm = try loader.norm(a.family.finalNorm, size: a.hiddenSize)
        if !a.tied, let shape = weights.shape(of: a.family.embedding), shape != [a.vocabSize, a.hiddenSize] {
            throw EvalError("\(a.family.embedding) has shape \(shape), expected [\(a.vocabSize), \(a.hiddenSize)] from config.json")
        }
    }

    /// Runs `windows` together (one batch) on `threads` threads. `progress(layersDone)` is
    /// called after each block and once more after the head (layerCount + 1 in all).
    /// `skipping` names layers left out: the residual stream passes through them unchanged and
    /// their weights are not read, as if the checkpoint had been pruned of them (every other
    /// number is computed exactly as without `skipping`). Not with `layerScores`.
    /// `layerScoreInput` says what the last block's score compares (`LayerScoreInput`).
    public func run(_ windows: [WindowRequest], threads: Int, layerScores: Bool = false, skipping: Set<Int> = [],
                    layerScoreInput: LayerScoreInput = .residual,
                    progress: (@Sendable (Int) -> Void)? = nil) throws -> [WindowResult] {
        _ = BLAS.singleThreaded
        let a = architecture
        try Self.checkSkipping(skipping, layerCount: a.layerCount, layerScores: layerScores)
        guard skipped.isSubset(of: skipping) else {
            throw EvalError("layers \(skipped.subtracting(skipping).sorted()) are not in this model's weights: they must be skipped")
        }
        for w in windows {
            if let bad = w.tokens.first(where: { $0 < 0 || Int($0) >= a.vocabSize }) {
                throw EvalError("token id \(bad) is outside the vocabulary (0..<\(a.vocabSize))")
            }
        }
        let acts = windows.map { DecoderLayer.Activations(length: $0.tokens.count, architecture: a, keepEntering: layerScores) }
        try embed(windows, into: acts)

        var ropeTables: [Int: (cos: Floats, sin: Floats)] = [:]
        for w in windows where ropeTables[w.tokens.count] == nil {
            let (c, s) = a.rope.tables(length: w.tokens.count)
            let cf = Floats(count: c.count), sf = Floats(count: s.count)
            for i in 0..<c.count { cf.base[i] = c[i]; sf.base[i] = s[i] }
            ropeTables[w.tokens.count] = (cf, sf)
        }
        let ropes = windows.map { ropeTables[$0.tokens.count]! }

        // Fixed tasks: (window, row block) and (window, head).
        var rowTasks: [(window: Int, rows: Range<Int>)] = []
        for (i, w) in windows.enumerated() {
            for start in stride(from: 0, to: w.tokens.count, by: DecoderLayer.blockRows) {
                rowTasks.append((i, start..<min(start + DecoderLayer.blockRows, w.tokens.count)))
            }
        }
        let headTasks = windows.indices.flatMap { w in (0..<a.headCount).map { (window: w, head: $0) } }
        let rowTaskList = rowTasks
        let scratchFloats = Attention.scratchCount(length: windows.map(\.tokens.count).max() ?? 0)
        let blockScratch = DecoderLayer.scratchCount(a)
        let storage = BlockStorage()

        var cosineSums = [[Double]](repeating: [], count: windows.count)
        for layer in 0..<a.layerCount {
            if skipping.contains(layer) {
                progress?(layer + 1)
                continue
            }
            let block = DecoderLayer(architecture: a, weights: try LayerWeights(weights, architecture: a, layer: layer, storage: storage),
                                     window: a.windows[layer])
            try ParallelChunks.forEach(rowTaskList.count, threads: threads, floats: blockScratch) { i, scratch in
                let t = rowTaskList[i]
                block.project(acts[t.window], rows: t.rows, rope: ropes[t.window], scratch: scratch.baseAddress!)
            }
            try ParallelChunks.forEach(headTasks.count, threads: threads, floats: scratchFloats) { i, scratch in
                let t = headTasks[i], act = acts[t.window]
                Attention.head(t.head, qkv: act.qkv.base, ld: a.qkvWidth, length: act.length, architecture: a, window: block.window,
                               out: act.attention.base, ldOut: a.attentionWidth, scratch: scratch.baseAddress!)
            }
            var sums = try ParallelChunks.map(rowTaskList.count, threads: threads, floats: blockScratch) { i, scratch in
                let t = rowTaskList[i]
                return block.finish(acts[t.window], rows: t.rows, scored: windows[t.window].scored, scratch: scratch.baseAddress!)
            }
            if layerScores && layerScoreInput == .hiddenStates && layer == a.layerCount - 1 {
                // transformers' last hidden state is after the final norm: compare with that.
                let finalNorm = self.finalNorm, h = a.hiddenSize
                sums = try ParallelChunks.map(rowTaskList.count, threads: threads, floats: DecoderLayer.blockRows * h) { i, normed in
                    let t = rowTaskList[i], act = acts[t.window], first = t.rows.lowerBound
                    for p in t.rows {
                        Kernels.rmsNorm(act.stream.base + p * h, h, weight: finalNorm.base, epsilon: a.epsilon, into: normed.baseAddress! + (p - first) * h)
                    }
                    var sum = 0.0
                    for p in t.rows where windows[t.window].scored.contains(p) {
                        sum += BlockInfluence.cosine(act.entering!.base + p * h, normed.baseAddress! + (p - first) * h, h)
                    }
                    return sum
                }
            }
            if layerScores {
                var perWindow = [Double](repeating: 0, count: windows.count)
                for (i, t) in rowTaskList.enumerated() { perWindow[t.window] += sums[i] }
                for w in windows.indices { cosineSums[w].append(perWindow[w]) }
            }
            progress?(layer + 1)
        }

        // Final norm and head, for the rows that are scored or whose logits are wanted.
        let results = try headOutputs(windows, acts: acts, threads: threads)
        progress?(a.layerCount + 1)
        return windows.indices.map { WindowResult(losses: results[$0].losses, logits: results[$0].logits, cosineSums: cosineSums[$0]) }
    }

    /// Layers to skip must exist, leave at least one layer, and not come with layer scores.
    public static func checkSkipping(_ skipping: Set<Int>, layerCount: Int, layerScores: Bool) throws {
        guard !skipping.isEmpty else { return }
        let outside = skipping.filter { $0 < 0 || $0 >= layerCount }.sorted()
        if !outside.isEmpty {
            throw EvalError("cannot skip layer\(outside.count == 1 ? "" : "s") \(outside.map(String.init).joined(separator: ", ")): the model has layers 0...\(layerCount - 1)")
        }
        if skipping.count == layerCount { throw EvalError("skipping all \(layerCount) layers leaves nothing to run") }
        if layerScores { throw EvalError("layer scores are measured on the whole model: do not skip layers at the same time") }
    }

    private func embed(_ windows: [WindowRequest], into acts: [DecoderLayer.Activations]) throws {
        let a = architecture, h = a.hiddenSize
        for (w, act) in zip(windows, acts) {
            for (p, token) in w.tokens.enumerated() {
                let row = act.stream.base + p * h
                if a.tied {
                    row.update(from: head.base + Int(token) * h, count: h)
                } else {
                    try weights.read(a.family.embedding, (Int(token) * h)..<((Int(token) + 1) * h), into: UnsafeMutableBufferPointer(start: row, count: h))
                }
                if a.embeddingScale != 1 { for i in 0..<h { row[i] *= a.embeddingScale } }
            }
        }
        if !a.tied { weights.release(a.family.embedding) }
    }

    private func headOutputs(_ windows: [WindowRequest], acts: [DecoderLayer.Activations], threads: Int) throws
        -> [(losses: [Double], logits: [[Float]])] {
        let a = architecture, h = a.hiddenSize, vocab = a.vocabSize
        // Tasks: blocks of up to 64 wanted positions of one window.
        var tasks: [(window: Int, positions: [Int])] = []
        for (i, w) in windows.enumerated() {
            let wanted = Array(Set(w.scored).union(w.logitPositions)).sorted()
            for start in stride(from: 0, to: wanted.count, by: DecoderLayer.blockRows) {
                tasks.append((i, Array(wanted[start..<min(start + DecoderLayer.blockRows, wanted.count)])))
            }
        }
        let taskList = tasks
        let chunk = min(Self.vocabChunk, vocab)
        let outputs = try ParallelChunks.map(taskList.count, threads: threads, floats: DecoderLayer.blockRows * (h + chunk)) { ti, block in
            let task = taskList[ti], w = windows[task.window], act = acts[task.window]
            let n = task.positions.count
            // The normed rows, then the logits of one vocabulary chunk.
            let x = block.baseAddress!, logits = block.baseAddress! + n * h
            for (r, p) in task.positions.enumerated() {
                Kernels.rmsNorm(act.stream.base + p * h, h, weight: self.finalNorm.base, epsilon: a.epsilon, into: x + r * h)
            }
            var maxima = [Float](repeating: -.infinity, count: n)
            var sums = [Double](repeating: 0, count: n)
            var targets = [Float](repeating: .nan, count: n)
            let wantsLoss = task.positions.map { w.scored.contains($0) }
            let target = task.positions.map { w.scored.contains($0) ? Int(w.tokens[$0 + 1]) : -1 }
            let wantsLogits = task.positions.map { w.logitPositions.contains($0) }
            var full = [[Float]](repeating: [], count: n)
            for v0 in stride(from: 0, to: vocab, by: chunk) {
                let width = min(chunk, vocab - v0)
                BLAS.matmulTransposed(m: n, n: width, k: h, a: x, lda: h, b: self.head.base + v0 * h, ldb: h, c: logits, ldc: width)
                for r in 0..<n {
                    let row = logits + r * width
                    if let cap = a.finalSoftcap { for i in 0..<width { row[i] = Kernels.softcap(row[i], cap) } }
                    if wantsLogits[r] { full[r].append(contentsOf: UnsafeBufferPointer(start: row, count: width)) }
                    guard wantsLoss[r] else { continue }
                    var m = maxima[r]
                    for i in 0..<width { m = max(m, row[i]) }
                    var s = maxima[r] == -.infinity ? 0 : sums[r] * Foundation.exp(Double(maxima[r] - m))
                    for i in 0..<width { s += Double(Kernels.exp(row[i] - m)) }
                    maxima[r] = m
                    sums[r] = s
                    if target[r] >= v0 && target[r] < v0 + width { targets[r] = row[target[r] - v0] }
                }
            }
            var out: [Int: (loss: Double?, logits: [Float]?)] = [:]
            for (r, p) in task.positions.enumerated() {
                let loss = wantsLoss[r] ? Double(maxima[r]) + Foundation.log(sums[r]) - Double(targets[r]) : nil
                out[p] = (loss, wantsLogits[r] ? full[r] : nil)
            }
            return out
        }
        var merged = [[Int: (loss: Double?, logits: [Float]?)]](repeating: [:], count: windows.count)
        for (ti, task) in taskList.enumerated() { merged[task.window].merge(outputs[ti]) { $1 } }
        return windows.indices.map { i in
            let w = windows[i]
            return (w.scored.map { merged[i][$0]!.loss! }, w.logitPositions.map { merged[i][$0]!.logits! })
        }
    }
}
