import ArgumentParser
import Evaluator
import Foundation
import MergeEngine
import SweepEngine
import TensorIO

/// What a layer is ranked by: Block Influence (one forward pass), or the loss of the model
/// without it (one forward pass per layer).
enum LayerMetric: String, ExpressibleByArgument, CaseIterable, Sendable {
    case bi
    case dropLoss = "drop-loss"

    var jsonName: String { self == .bi ? "block_influence" : "drop_loss" }
}

/// The scores of every layer of one model on one token sequence: Block Influence and the
/// loss of the whole model from one pass, and optionally each layer's drop-loss.
struct LayerScores: Sendable {
    /// The whole model's pass (loss and Block Influence).
    let report: LossReport
    /// Per layer: the mean loss with only that layer skipped (nil unless asked for).
    let dropLoss: [Double]?

    var blockInfluence: [Double] { report.blockInfluence ?? [] }
    var layerCount: Int { blockInfluence.count }

    func values(_ metric: LayerMetric) -> [Double] { metric == .bi ? blockInfluence : dropLoss ?? [] }

    /// {layer: score} for `LayerPruning.lowest`.
    func dictionary(_ metric: LayerMetric) -> [Int: Double] {
        Dictionary(uniqueKeysWithValues: values(metric).enumerated().map { ($0.offset, $0.element) })
    }

    /// The file `crucible prune --scores` reads. By BI it is exactly `eval --layer-scores`'s.
    func scoresJSON(_ metric: LayerMetric) -> JSONValue {
        if metric == .bi, let json = report.scoresJSON() { return json }
        return .object(JSONObject([
            .init(key: "model", value: .string(report.model)),
            .init(key: "metric", value: .string(metric.jsonName)),
            .init(key: "baseline_loss", value: .double(report.loss)),
            .init(key: "scores", value: Self.object(values(metric))),
        ]))
    }

    static func object(_ values: [Double]) -> JSONValue {
        .object(JSONObject(values.enumerated().map { JSONObject.Entry(key: String($0.offset), value: .double($0.element)) }))
    }

    /// Everything, for `--json`.
    func json(source: (key: String, path: String)) -> JSONValue {
        var entries: [JSONObject.Entry] = [
            .init(key: source.key, value: .string(source.path)),
            .init(key: "model", value: .string(report.model)),
            .init(key: "model_type", value: .string(report.modelType)),
            .init(key: "tokens", value: .integer(report.tokenCount)),
            .init(key: "context", value: .integer(report.context)),
            .init(key: "stride", value: .integer(report.stride)),
            .init(key: "scored_tokens", value: .integer(report.scoredCount)),
            .init(key: "loss", value: .double(report.loss)),
            .init(key: "block_influence", value: Self.object(blockInfluence)),
        ]
        if let dropLoss { entries.append(.init(key: "drop_loss", value: Self.object(dropLoss))) }
        return .object(JSONObject(entries))
    }

    /// One row per layer: BI and its rank, and the drop-loss, its increase and rank.
    func table(marked: Set<Int> = []) -> String {
        var header = ["layer", "block influence", "rank"]
        if dropLoss != nil { header += ["loss without", "Δloss", "rank"] }
        if !marked.isEmpty { header.append("") }
        var rows = [header]
        let biRanks = LayerPruning.ranks(blockInfluence), dropRanks = dropLoss.map { LayerPruning.ranks($0) }
        for layer in 0..<layerCount {
            var row = [String(layer), String(format: "%.6f", blockInfluence[layer]), String(biRanks[layer])]
            if let dropLoss, let dropRanks {
                row += [String(format: "%.4f", dropLoss[layer]), String(format: "%+.4f", dropLoss[layer] - report.loss), String(dropRanks[layer])]
            }
            if !marked.isEmpty { row.append(marked.contains(layer) ? "dropped" : "") }
            rows.append(row)
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        let lines = rows.map { row in
            row.enumerated().map { c, cell in String(repeating: " ", count: widths[c] - cell.count) + cell }.joined(separator: "  ")
        }
        let head = "\(report.model): loss \(String(format: "%.4f", report.loss)) (perplexity \(String(format: "%.3f", report.perplexity))) "
            + "over \(report.scoredCount) tokens; lowest scores = most redundant"
        return ([head] + lines).joined(separator: "\n")
    }

    func svg() -> String {
        var panels = [LayerScoreChart.Panel(title: "Block Influence (1 − mean cos(in, out))", axisLabel: "block influence",
                                            values: blockInfluence, ranks: LayerPruning.ranks(blockInfluence))]
        if let dropLoss {
            panels.append(LayerScoreChart.Panel(title: "Loss without the layer − loss of the whole model (\(String(format: "%.4f", report.loss)) nats)",
                                                axisLabel: "Δloss (nats)", values: dropLoss.map { $0 - report.loss }, ranks: LayerPruning.ranks(dropLoss)))
        }
        return LayerScoreChart.svg(title: "Layer scores: \(report.model)", panels: panels)
    }
}

/// Scoring the layers of a model as one job: the whole model's pass with Block Influence and,
/// with `dropLoss`, one task per layer, the loss with that layer skipped (in memory, nothing
/// written), so workers anywhere can take them.
enum LayerScoring {
    static func run(_ subject: Measurement.Subject, tokens: [Int32], windows: EvalJob.Windows, dropLoss: Bool,
                    cluster: ClusterCommandOptions, threads: Int, quiet: Bool, finalJob: Bool = true) throws -> LayerScores {
        let layers = subject.model.architecture.layerCount
        var requests = [EvalJob.Request(model: 0, layerScores: true, label: "\(subject.name): every layer")]
        if dropLoss {
            requests += (0..<layers).map { EvalJob.Request(model: 0, skipping: [$0], label: "\(subject.name) without layer \($0)") }
        }
        let (job, seconds) = try Measurement.run([subject.model], requests, tokens: tokens, windows: windows, cluster: cluster,
                                                 threads: threads, quiet: quiet, finalJob: finalJob)
        return try CLIError.wrap {
            LayerScores(report: try job.report(0).timed(seconds), dropLoss: dropLoss ? try (1...layers).map { try job.report($0).loss } : nil)
        }
    }

    static func write(_ text: String, to path: String) throws {
        try CLIError.wrap { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
    }
}
