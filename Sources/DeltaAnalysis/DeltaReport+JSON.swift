import TensorIO

extension DeltaReport {
    /// Identifies the layout of `json()` (docs/analyze.md); bumped on incompatible changes.
    public static let schema = "crucible.analyze/1"

    /// Every number of the analysis (docs/analyze.md, "JSON"). Counts are integers, other
    /// numbers are written so that they read back exactly; undefined values are null.
    public func json() -> JSONValue {
        var root = JSONObject()
        root["schema"] = .string(DeltaReport.schema)
        root["base"] = .string(base)
        root["models"] = .array(modelNames.map(JSONValue.string))
        root["threshold"] = JSONValue.double(threshold)
        root["percentiles"] = .object(JSONObject([
            "q": .array(Percentile.reported.map { JSONValue.double($0) }),
            "method": .string("linear (numpy's default): sorted |δ| as Float64, h = (n−1)·q/100, interpolated between ⌊h⌋ and ⌊h⌋+1"),
        ]))
        root["verdict_rule"] = .object(JSONObject([
            "small_if_share_within_at_least": JSONValue.double(DeltaVerdict.safeShare),
            "large_if_share_within_below": JSONValue.double(DeltaVerdict.largeShare),
        ]))
        root["summary"] = .array(models.indices.map { m in
            var entry = JSONObject()
            entry["model"] = .string(modelNames[m])
            entry["index"] = .integer(m)
            for e in aggregateFields(models[m]).entries { entry[e.key] = e.value }
            entry["verdict"] = .string(verdict(m).rawValue)
            entry["message"] = .string(verdictMessage(m))
            return .object(entry)
        })
        root["pairs"] = pairsJSON(pairs)
        root["layers"] = .array(layers.map { layer in
            .object(JSONObject([
                "layer": layer.layer.map { .integer($0) } ?? .null,
                "tensors": .integer(layer.tensors),
                "elements": .integer(layer.elements),
                "models": .array(layer.models.map { .object(aggregateFields($0)) }),
                "pairs": pairsJSON(layer.pairs),
            ]))
        })
        root["tensors"] = .array(tensors.map { tensor in
            .object(JSONObject([
                "name": .string(tensor.name),
                "shape": .array(tensor.shape.map { .integer($0) }),
                "layer": tensor.layer.map { .integer($0) } ?? .null,
                "elements": .integer(tensor.record.elements),
                "base_sum_squares": JSONValue.double(tensor.record.baseSumSquares),
                "models": .array(tensor.record.models.map { stats in
                    var aggregate = DeltaAggregate()
                    aggregate.add(stats, elements: tensor.record.elements, baseSumSquares: tensor.record.baseSumSquares)
                    var fields = aggregateFields(aggregate, perTensor: true)
                    fields["p50"] = JSONValue.double(stats.p50)
                    fields["p90"] = JSONValue.double(stats.p90)
                    fields["p99"] = JSONValue.double(stats.p99)
                    return .object(fields)
                }),
                "pairs": pairsJSON(tensor.record.pairs),
            ]))
        })
        root["skipped"] = .array(skipped.map(JSONValue.string))
        root["extra_tensors"] = .array(extra.map { .array($0.map(JSONValue.string)) })
        return .object(root)
    }

    /// The fields of one aggregate (or of one tensor, without the tensor count).
    private func aggregateFields(_ a: DeltaAggregate, perTensor: Bool = false) -> JSONObject {
        var o = JSONObject()
        if !perTensor {
            o["tensors"] = .integer(a.tensors)
            o["elements"] = .integer(a.elements)
        }
        o["finite"] = .integer(a.finite)
        o["non_finite"] = .integer(a.nonFinite)
        o["zeros"] = .integer(a.zeros)
        o["positives"] = .integer(a.positives)
        o["negatives"] = .integer(a.negatives)
        o["within_threshold"] = .integer(a.withinThreshold)
        o["max_abs"] = JSONValue.double(a.maxAbs)
        o["mean_abs"] = JSONValue.double(a.meanAbs)
        o["share_within"] = JSONValue.double(a.shareWithin)
        o["share_zero"] = JSONValue.double(a.shareZero)
        o["relative_norm"] = JSONValue.double(a.relativeNorm)
        o["sum_abs"] = JSONValue.double(a.sumAbs)
        o["sum_squares"] = JSONValue.double(a.sumSquares)
        if !perTensor { o["base_sum_squares"] = JSONValue.double(a.baseSumSquares) }
        return o
    }

    private func pairsJSON(_ pairs: [PairSignStats]) -> JSONValue {
        .array(zip(DeltaRecord.pairs(models: modelNames.count), pairs).map { indices, stats in
            .object(JSONObject([
                "models": .array([.integer(indices.0), .integer(indices.1)]),
                "both_nonzero": .integer(stats.bothNonZero),
                "same_sign": .integer(stats.sameSign),
                "agreement": JSONValue.double(stats.agreement),
            ]))
        })
    }
}
