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

/// Scoring the layers of a model in process. Each drop-loss is an independent task (the
/// evaluation with one layer skipped: nothing written, nothing shared but the read-only
/// model), so they can later run anywhere tasks run.
enum LayerScoring {
    /// One drop-loss task: the loss of `model` with `layer` skipped.
    struct DropLossTask: Sendable {
        let layer: Int

        func run(_ model: ForwardPass, name: String, tokens: [Int32], evaluation: Evaluation,
                 progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Double {
            var e = evaluation
            e.layerScores = false
            e.skipping = [layer]
            return try e.run(model, name: name, tokens: tokens, progress: progress).loss
        }
    }

    /// The whole model's pass with Block Influence, then (with `dropLoss`) one task per layer.
    /// The progress bar counts window tokens over all passes.
    static func run(_ model: ForwardPass, name: String, tokens: [Int32], evaluation: Evaluation, dropLoss: Bool,
                    bar: ProgressBar) throws -> LayerScores {
        var base = evaluation
        base.layerScores = true
        base.skipping = []
        let passes = dropLoss ? 1 + model.architecture.layerCount : 1
        func progress(_ pass: Int) -> @Sendable (Int, Int) -> Void {
            { done, total in bar.updateCount(done: pass * total + done, total: passes * total) }
        }
        let report = try CLIError.wrap { try base.run(model, name: name, tokens: tokens, progress: progress(0)) }
        var losses: [Double]?
        if dropLoss {
            let tasks = (0..<model.architecture.layerCount).map { DropLossTask(layer: $0) }
            losses = try tasks.map { task in
                try CLIError.wrap { try task.run(model, name: name, tokens: tokens, evaluation: evaluation, progress: progress(1 + task.layer)) }
            }
        }
        bar.finish()
        return LayerScores(report: report, dropLoss: losses)
    }

    static func write(_ text: String, to path: String) throws {
        try CLIError.wrap { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
    }
}
