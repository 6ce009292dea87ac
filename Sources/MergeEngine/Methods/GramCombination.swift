import CrucibleMath

/// The engine behind the spherical methods (slerp, nuslerp, multislerp, karcher,
/// model_stock). Each computes, per vector group, an output that is a linear combination
/// `Σ cᵢ·vᵢ` of its input vectors whose coefficients depend only on their inner products.
/// So one streaming pass accumulates the Gram matrix `Gᵢⱼ = ⟨vᵢ, vⱼ⟩` of every group (in
/// Float64), the method turns each Gram matrix into coefficients, and one element-wise pass
/// writes the result: no tensor is ever held whole.
struct GramCombination {
    /// How a tensor splits into the vectors the method works on.
    enum Grouping {
        /// The whole flattened tensor is one vector.
        case whole
        /// Each row along the last dimension is a vector (1-D: the whole tensor).
        case rows
        /// Vectors run along dimension 0 (for a 2-D [out, in] weight: each column).
        case columns
    }

    /// Which vectors take part: the base itself and/or the other inputs, optionally as task
    /// vectors (minus the base, with the base added back to the result).
    struct Vectors {
        var includeBase: Bool
        var taskVectors: Bool
    }

    let job: TensorJob
    let grouping: Grouping
    let vectors: Vectors

    var vectorCount: Int { job.inputs.count + (vectors.includeBase ? 1 : 0) }

    private var groupCount: Int {
        switch grouping {
        case .whole: return 1
        case .rows: return job.rowCount
        case .columns: return job.shape.count >= 2 ? job.count / max(job.shape[0], 1) : 1
        }
    }

    @inline(__always)
    private func group(of element: Int, rowLength: Int, columns: Int) -> Int {
        switch grouping {
        case .whole: return 0
        case .rows: return element / rowLength
        case .columns: return element % columns
        }
    }

    /// The vectors of `chunk`, element `i`: base first when included, minus the base for task vectors.
    @inline(__always)
    private func value(_ chunk: Chunk, vector v: Int, at i: Int) -> Float {
        if vectors.includeBase {
            if v == 0 { return chunk.base![i] }
            return chunk.inputs[v - 1][i] - (vectors.taskVectors ? chunk.base![i] : 0)
        }
        return chunk.inputs[v][i] - (vectors.taskVectors ? chunk.base![i] : 0)
    }

    /// Gram matrices, one per group, each row-major `k × k`.
    func gramMatrices() throws -> [[Double]] {
        let k = vectorCount, groups = groupCount, rowLength = job.rowLength, columns = groupCount
        // Partial sums are folded in chunk order as they complete: a `.columns` partial covers
        // every column, so keeping one per chunk would cost groups × k² doubles per chunk.
        let kk = k * k
        let sums = try job.reduce(byRows: true, into: [Double](repeating: 0, count: groups * kk)) { chunk -> (Int, [Double]) in
            // Rows: this chunk's rows only. Whole/columns: a partial sum over every group.
            let firstGroup = grouping == .rows ? chunk.range.lowerBound / rowLength : 0
            let localGroups = grouping == .rows ? chunk.count / rowLength : groups
            var sums = [Double](repeating: 0, count: localGroups * k * k)
            let n = chunk.count
            var values = [Float](repeating: 0, count: k)
            for i in 0..<n {
                let g = group(of: chunk.range.lowerBound + i, rowLength: rowLength, columns: columns) - firstGroup
                for v in 0..<k { values[v] = value(chunk, vector: v, at: i) }
                let offset = g * k * k
                for a in 0..<k {
                    let va = Double(values[a])
                    for b in a..<k { sums[offset + a * k + b] += va * Double(values[b]) }
                }
            }
            return (firstGroup, sums)
        } combine: { total, partial in
            let (firstGroup, sums) = partial
            for g in 0..<(sums.count / kk) {
                for a in 0..<k { for b in a..<k { total[(firstGroup + g) * kk + a * k + b] += sums[g * kk + a * k + b] } }
            }
        }
        return (0..<groups).map { g in
            var gram = Array(sums[(g * kk)..<((g + 1) * kk)])
            for a in 0..<k { for b in 0..<a { gram[a * k + b] = gram[b * k + a] } }
            return gram
        }
    }

    /// Writes `Σ cᵢ·vᵢ` (plus the base for task vectors), with `coefficients[group][i]`.
    func apply(_ coefficients: [[Double]]) throws {
        let k = vectorCount, rowLength = job.rowLength, columns = groupCount
        let addBase = vectors.taskVectors
        let single = coefficients.count == 1
        let floatCoefficients = coefficients.map { $0.map(Float.init) }
        try job.apply(byRows: true) { chunk in
            let out = chunk.output
            for i in 0..<chunk.count {
                let c = single ? floatCoefficients[0] : floatCoefficients[group(of: chunk.range.lowerBound + i, rowLength: rowLength, columns: columns)]
                var sum: Float = addBase ? chunk.base![i] : 0
                for v in 0..<k { sum += c[v] * value(chunk, vector: v, at: i) }
                out[i] = sum
            }
        }
    }

    /// Computes the Gram matrices, maps each to coefficients with `coefficients`, and writes the result.
    func run(_ coefficients: (_ gram: [Double]) throws -> [Double]) throws {
        let grams = try gramMatrices()
        try apply(grams.map(coefficients))
    }
}

/// Small dense helpers for coefficient-space geometry over a Gram matrix `G` (k × k).
enum Gram {
    /// ⟨Σ aᵢvᵢ, Σ bⱼvⱼ⟩ = aᵀ G b.
    static func inner(_ a: [Double], _ b: [Double], _ g: [Double]) -> Double {
        let k = a.count
        var total = 0.0
        for i in 0..<k where a[i] != 0 {
            var row = 0.0
            for j in 0..<k { row += g[i * k + j] * b[j] }
            total += a[i] * row
        }
        return total
    }

    static func norm(_ a: [Double], _ g: [Double]) -> Double { max(inner(a, a, g), 0).squareRoot() }

    /// The unit coefficient vector selecting vector `i`.
    static func basis(_ i: Int, _ k: Int) -> [Double] {
        var e = [Double](repeating: 0, count: k)
        e[i] = 1
        return e
    }
}
