import TensorIO

extension DeltaReport {
    /// The terminal summary: one row per model, the verdicts, whole-model sign agreement, and
    /// a compact per-layer table (mean |δ| and share within the threshold per model, and the
    /// sign agreement of each pair when there are at most three pairs).
    public func table() -> String {
        let t = DeltaFormat.number(threshold)
        let label = { (m: Int) in "M\(m + 1)" }
        var out = "base: \(base)\n"
        for m in modelNames.indices { out += "\(label(m)):   \(modelNames[m])\n" }
        out += "\n"
        let summary = models.indices.map { m -> [String] in
            let a = models[m]
            return [label(m), String(a.tensors), String(a.elements), DeltaFormat.number(a.maxAbs), DeltaFormat.number(a.meanAbs),
                    DeltaFormat.percent(a.shareWithin), DeltaFormat.percent(a.shareZero), DeltaFormat.number(a.relativeNorm),
                    verdict(m).rawValue]
        }
        out += TextTable(header: ["model", "tensors", "elements", "max |δ|", "mean |δ|", "|δ| ≤ \(t)", "δ = 0", "‖δ‖/‖W‖", "verdict"],
                         rows: summary, rightAligned: Set(1...7)).render()
        out += "\n"
        for m in modelNames.indices { out += "\(label(m)): \(verdictMessage(m))\n" }
        for m in modelNames.indices where models[m].nonFinite > 0 {
            out += "\(label(m)): \(models[m].nonFinite) elements have a non-finite delta (left out of every statistic)\n"
        }

        let pairIndices = DeltaRecord.pairs(models: modelNames.count)
        if !pairIndices.isEmpty {
            out += "\nsign agreement (elements where both deltas are non-zero):\n"
            for (p, (a, b)) in pairIndices.enumerated() {
                out += "  \(label(a))·\(label(b)): \(DeltaFormat.percent(pairs[p].agreement)) of \(pairs[p].bothNonZero)\n"
            }
        }

        out += "\nper layer (element-weighted; p50/p90/p99 per tensor are in --json):\n"
        var header = ["layer", "tensors"]
        var right: Set<Int> = [1]
        for m in modelNames.indices {
            header += ["\(label(m)) mean |δ|", "\(label(m)) ≤ \(t)"]
        }
        let showPairs = pairIndices.count <= 3
        if showPairs { header += pairIndices.map { "\(label($0.0))·\(label($0.1)) agree" } }
        right.formUnion(2..<header.count)
        let rows = layers.map { layer -> [String] in
            var row = [layer.layer.map(String.init) ?? "other", String(layer.tensors)]
            for a in layer.models { row += [DeltaFormat.number(a.meanAbs), DeltaFormat.percent(a.shareWithin)] }
            if showPairs { row += layer.pairs.map { DeltaFormat.percent($0.agreement) } }
            return row
        }
        out += TextTable(header: header, rows: rows, rightAligned: right).render()
        if !skipped.isEmpty { out += "\nnot analysed (not floating point): \(skipped.joined(separator: ", "))\n" }
        for m in modelNames.indices where !extra[m].isEmpty {
            out += "\(label(m)): \(extra[m].count) tensors not in the base, ignored\n"
        }
        return out
    }
}
