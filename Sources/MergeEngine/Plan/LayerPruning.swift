import Foundation
import JobModel
import TensorIO

/// ShortGPT-style layer removal as a merge: the kept layers become passthrough slices of the
/// model (consecutive runs), renumbered, with `num_hidden_layers` updated. The config is
/// written as mergekit YAML and planned like any merge, so the output records exactly what
/// was done and prune runs wherever merges run.
public enum LayerPruning {
    /// A passthrough config keeping every layer of `model` (of `layerCount`) except `drop`.
    public static func config(model: String, layerCount: Int, drop: Set<Int>) throws(ProblemList) -> MergeConfig {
        let source = "prune"
        let outside = drop.filter { $0 < 0 || $0 >= layerCount }.sorted()
        if !outside.isEmpty {
            throw ProblemList(source: source, problems: [.init("--drop-layers",
                "layer\(outside.count == 1 ? "" : "s") \(outside.map(String.init).joined(separator: ", ")) out of range; \(model) has layers 0...\(layerCount - 1)")])
        }
        let kept = (0..<layerCount).filter { !drop.contains($0) }
        guard !kept.isEmpty else {
            throw ProblemList(source: source, problems: [.init("--drop-layers", "dropping all \(layerCount) layers leaves nothing")])
        }
        var runs: [Range<Int>] = []
        for layer in kept {
            if let last = runs.last, last.upperBound == layer { runs[runs.count - 1] = last.lowerBound..<(layer + 1) } else { runs.append(layer..<(layer + 1)) }
        }
        let quoted = "'" + model.replacingOccurrences(of: "'", with: "''") + "'"
        var yaml = "# crucible prune: drop layers \(drop.sorted().map(String.init).joined(separator: ", ")) of \(layerCount)\nslices:\n"
        for run in runs {
            yaml += "  - sources:\n      - model: \(quoted)\n        layer_range: [\(run.lowerBound), \(run.upperBound)]\n"
        }
        yaml += "merge_method: passthrough\n"
        return try ConfigParser.parse(yaml, source: source)
    }

    /// Reads a Block Influence scores file: a JSON object mapping layer index (as a string) to
    /// its score, optionally under a top-level `"scores"` key (see docs/prune.md).
    public static func readScores(_ path: String) throws -> [Int: Double] {
        let bytes = try FileSystem.readFile(path)
        let root: JSONValue
        do {
            root = try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) in try JSONParser.parse(buffer) }
        } catch {
            throw ProblemList(source: path, problems: [.init("", "not valid JSON: \(error)")])
        }
        let object = root.objectValue?["scores"]?.objectValue ?? root.objectValue
        guard let object else { throw ProblemList(source: path, problems: [.init("", "must be a JSON object {\"layer\": score, ...}")]) }
        var scores: [Int: Double] = [:]
        var problems: [ProblemList.Problem] = []
        for entry in object.entries {
            guard let layer = Int(entry.key), layer >= 0 else { problems.append(.init(entry.key, "is not a layer index")); continue }
            guard let score = entry.value.doubleValue, score.isFinite else { problems.append(.init(entry.key, "score is not a finite number")); continue }
            scores[layer] = score
        }
        if !problems.isEmpty { throw ProblemList(source: path, problems: problems) }
        return scores
    }

    /// The `count` layers with the lowest scores (the most redundant); ties drop the later layer.
    /// Each layer's rank from the lowest score (1 = dropped first), in the order `lowest`
    /// drops them (ties: the later layer first).
    public static func ranks(_ scores: [Double]) -> [Int] {
        var ranks = [Int](repeating: 0, count: scores.count)
        for (rank, layer) in lowest(scores.count, of: Dictionary(uniqueKeysWithValues: scores.enumerated().map { ($0.offset, $0.element) })).enumerated() {
            ranks[layer] = rank + 1
        }
        return ranks
    }

    public static func lowest(_ count: Int, of scores: [Int: Double]) -> [Int] {
        scores.sorted { ($0.value, -$0.key) < ($1.value, -$1.key) }.prefix(count).map(\.key)
    }
}
