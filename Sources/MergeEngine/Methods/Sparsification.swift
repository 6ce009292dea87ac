import CrucibleMath

/// How the task-arithmetic family thins each task vector `δᵢ = xᵢ − b` before combining.
enum Sparsifier: Sendable {
    case none
    /// Keep the `max(1, int(density·N))` largest |δ| (TIES).
    case magnitude
    /// Drop the `int(gamma·N)` largest and keep the next `int(density·N)` (breadcrumbs).
    case magnitudeOutliers
    /// Keep each element with probability `density` (DARE).
    case random
    /// Keep with a probability that grows with the element's rank in its row (DELLA).
    case dellaMagprune
}

/// The masks of one tensor's task vectors, decided before the element-wise pass.
///
/// Magnitude selections are exact: the k-th largest |δ| is found by streaming radix
/// selection (`TopKSelection`), and ties at the threshold are broken by element index, so
/// exactly k elements are kept whatever the chunking. Random masks draw element `e` of model
/// `m` from Philox keyed by (seed, m, tensor name), so they never depend on scheduling.
struct TaskVectorMasks {
    /// One rule per model.
    enum Rule {
        case keepAll
        case keepNone
        /// Keep the elements selected by `selections[upper]` and not by `selections[lower]`.
        case ranked(upper: Int, lower: Int?)
        case random(probability: Float)
        case della(density: Float, epsilon: Float)
    }

    let rules: [Rule]
    let selections: [TopKSelection]
    /// For each selection, how many threshold ties precede each chunk (empty when all ties are kept).
    let tiesBeforeChunk: [[Int]]
    let byRows: Bool

    /// Decides every model's rule and runs the selection passes.
    init(job: TensorJob, sparsifier: Sparsifier) throws {
        let n = job.count
        var rules: [Rule] = []
        var selections: [TopKSelection] = []
        func select(_ k: Int) -> Int {
            selections.append(TopKSelection(k: k, total: n))
            return selections.count - 1
        }
        for input in job.inputs {
            let density = input.number("density")
            switch sparsifier {
            case .none:
                rules.append(.keepAll)
            case _ where density >= 1:
                rules.append(.keepAll)
            case _ where density <= 0:
                rules.append(.keepNone)
            case .magnitude:
                rules.append(.ranked(upper: select(max(1, Int(density * Double(n)))), lower: nil))
            case .magnitudeOutliers:
                let target = Int(density * Double(n))
                var top = Int(input.number("gamma") * Double(n))
                var bottom = n - target - top
                if bottom < 0 { top += bottom; bottom = 0 }
                // Ascending ranks [bottom, n − top) = the (n − bottom) largest minus the top largest.
                // As in mergekit 0.1.5, nothing is kept when no outlier is dropped (top == 0).
                if top <= 0 {
                    rules.append(.keepNone)
                } else {
                    rules.append(.ranked(upper: select(n - bottom), lower: select(top)))
                }
            case .random:
                rules.append(.random(probability: Float(density)))
            case .dellaMagprune:
                rules.append(.della(density: Float(density), epsilon: Float(input.number("epsilon"))))
            }
        }
        self.rules = rules
        self.byRows = sparsifier == .dellaMagprune
        let byRows = self.byRows

        // Radix passes: all selections advance together, one read of the inputs per pass.
        let modelOf = TaskVectorMasks.owners(rules)
        while selections.contains(where: { !$0.isDone }) {
            let current = selections
            let histograms = try job.map(byRows: byRows) { chunk -> [[Int]] in
                var result = [[Int]](repeating: [], count: current.count)
                for (s, selection) in current.enumerated() where !selection.isDone {
                    var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
                    let x = chunk.inputs[modelOf[s]], b = chunk.base!
                    for i in 0..<chunk.count {
                        let bin = selection.bin(TopKSelection.magnitudeKey(x[i] - b[i]))
                        if bin >= 0 { histogram[bin] += 1 }
                    }
                    result[s] = histogram
                }
                return result
            }
            for s in selections.indices where !selections[s].isDone {
                var total = [Int](repeating: 0, count: TopKSelection.binCount)
                for chunkHistograms in histograms { for (i, c) in chunkHistograms[s].enumerated() { total[i] += c } }
                selections[s].consume(total)
            }
        }
        self.selections = selections

        // Where a threshold has more ties than are kept, count ties per chunk to break them by index.
        let final = selections
        let needTies = final.indices.filter { !final[$0].keepsAllTies }
        if needTies.isEmpty {
            tiesBeforeChunk = Array(repeating: [], count: final.count)
        } else {
            let counts = try job.map(byRows: byRows) { chunk -> [Int] in
                needTies.map { s in
                    let x = chunk.inputs[modelOf[s]], b = chunk.base!
                    var count = 0
                    for i in 0..<chunk.count where TopKSelection.magnitudeKey(x[i] - b[i]) == final[s].threshold { count += 1 }
                    return count
                }
            }
            var prefixes = [[Int]](repeating: [], count: final.count)
            for (j, s) in needTies.enumerated() {
                var running = 0
                prefixes[s] = counts.map { c in defer { running += c[j] }; return running }
            }
            tiesBeforeChunk = prefixes
        }
    }

    /// For each selection, the model it ranks.
    private static func owners(_ rules: [Rule]) -> [Int] {
        var owner: [Int: Int] = [:]
        for (m, rule) in rules.enumerated() {
            if case .ranked(let upper, let lower) = rule {
                owner[upper] = m
                if let lower { owner[lower] = m }
            }
        }
        return (0..<owner.count).map { owner[$0]! }
    }

    /// Writes model `m`'s masked task vector for `chunk` into `out`.
    func maskedDelta(_ chunk: Chunk, model m: Int, job: TensorJob, into out: UnsafeMutableBufferPointer<Float>) {
        let x = chunk.inputs[m], b = chunk.base!
        let n = chunk.count
        switch rules[m] {
        case .keepAll:
            for i in 0..<n { out[i] = x[i] - b[i] }
        case .keepNone:
            for i in 0..<n { out[i] = 0 }
        case .ranked(let upper, let lower):
            var upperTies = tiesBeforeChunk[upper].isEmpty ? 0 : tiesBeforeChunk[upper][chunk.index]
            var lowerTies = lower.map { tiesBeforeChunk[$0].isEmpty ? 0 : tiesBeforeChunk[$0][chunk.index] } ?? 0
            let up = selections[upper]
            let low = lower.map { selections[$0] }
            for i in 0..<n {
                let d = x[i] - b[i]
                let key = TopKSelection.magnitudeKey(d)
                var keep = up.selects(key, tiesBefore: upperTies)
                if key == up.threshold { upperTies += 1 }
                if let low {
                    if low.selects(key, tiesBefore: lowerTies) { keep = false }
                    if key == low.threshold { lowerTies += 1 }
                }
                out[i] = keep ? d : 0
            }
        case .random(let p):
            let random = job.inputs[m].random
            for i in 0..<n {
                let u = random.uniform(element: chunk.range.lowerBound + i)
                out[i] = u < p ? x[i] - b[i] : 0
            }
        case .della(let density, let epsilon):
            let random = job.inputs[m].random
            let rowLength = job.rowLength
            var order = [Int](repeating: 0, count: rowLength)
            var rowStart = 0
            while rowStart < n {
                let row = rowStart..<min(n, rowStart + rowLength)
                for i in row { out[i] = x[i] - b[i] }
                // Rank by |δ| ascending (ties by index), then keep with p = d − ε + 2ε·rank/(n−1).
                let count = row.count
                for j in 0..<count { order[j] = j }
                order[0..<count].sort { a, c in
                    let ka = abs(out[rowStart + a]), kc = abs(out[rowStart + c])
                    return ka < kc || (ka == kc && a < c)
                }
                let span = Float(max(count - 1, 1))
                for (rank, j) in order[0..<count].enumerated() {
                    let p = density - epsilon + 2 * epsilon * Float(rank) / span
                    let u = random.uniform(element: chunk.range.lowerBound + rowStart + j)
                    if !(u < p) { out[rowStart + j] = 0 }
                }
                rowStart += rowLength
            }
        }
    }
}

extension Philox {
    /// The uniform [0, 1) draw for one element.
    @inline(__always)
    func uniform(element: Int) -> Float {
        Philox.unitFloat(block(UInt64(element >> 2))[element & 3])
    }
}
