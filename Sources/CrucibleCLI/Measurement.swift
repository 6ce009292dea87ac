import Evaluator
import Foundation
import SweepEngine
import TensorIO

/// How `eval`, `score`, `prune` and `merge` measure models: as an `EvalJob` on the command's
/// cluster options (in-process workers by default, remote ones with --listen), so every
/// forward pass runs wherever tasks run.
enum Measurement {
    /// A model to measure: its name in reports, its folder and the opened checkpoint.
    struct Subject {
        let name: String
        let path: String
        let model: EvalJob.Model
    }

    /// Opens the model in folder `path` (its config.json gives the architecture).
    static func subject(_ name: String, path: String) throws -> Subject {
        try subject(name, checkpoint: try CLIError.wrap { try Checkpoint(path: path) })
    }

    /// The opened `checkpoint`; its config.json and tokenizer are in its folder (for a remote
    /// model read by ranges, the folder of its small files).
    static func subject(_ name: String, checkpoint: Checkpoint) throws -> Subject {
        let path = checkpoint.remote == nil ? checkpoint.path : checkpoint.directory
        return try CLIError.wrap { Subject(name: name, path: path, model: try EvalJob.Model(name: name, checkpoint: checkpoint)) }
    }

    /// The windows --context/--stride/--batch describe (default context: 2048, or the
    /// smallest maximum of the models when smaller; no batch: every window whose activations —
    /// residual stream, q/k/v and attention output of every token of the largest model — fit
    /// in `batchBudget`, at least one).
    static func windows(context: Int?, stride: Int?, batch: Int?, for models: [EvalJob.Model],
                        layerScoreInput: LayerScoreInput = .residual) -> EvalJob.Windows {
        let limit = models.compactMap(\.architecture.maxPositions).min() ?? 2048
        let window = context ?? min(2048, limit)
        let perToken = models.map { $0.architecture.hiddenSize + $0.architecture.qkvWidth + $0.architecture.attentionWidth }.max() ?? 1
        let fitting = max(1, batchBudget / max(1, 4 * perToken * window))
        return EvalJob.Windows(context: window, stride: stride ?? window, batch: batch ?? fitting, layerScoreInput: layerScoreInput)
    }

    /// Activation memory the default batch of in-place measures fills.
    static let batchBudget = 256 << 20

    /// The windows of `eval`, `score` and `prune`'s options.
    static func windows(_ input: EvalInputOptions, for models: [EvalJob.Model], layerScoreInput: LayerScoreInput = .residual) -> EvalJob.Windows {
        windows(context: input.context, stride: input.stride, batch: input.batch, for: models, layerScoreInput: layerScoreInput)
    }

    /// The subjects measured on the same ids as one job each, in order: models whose
    /// tokenizers give the same ids share a job. Returns a report per subject, in order.
    static func losses(_ subjects: [Subject], tokens: (Subject) throws -> [Int32], windows: ([EvalJob.Model]) -> EvalJob.Windows,
                       layerScores: Bool = false, cluster: ClusterCommandOptions, threads: Int, quiet: Bool) throws -> [LossReport] {
        var groups: [(ids: [Int32], members: [Int])] = []
        for (index, subject) in subjects.enumerated() {
            let ids = try tokens(subject)
            if let g = groups.firstIndex(where: { $0.ids == ids }) { groups[g].members.append(index) } else { groups.append((ids, [index])) }
        }
        var reports = [LossReport?](repeating: nil, count: subjects.count)
        for (g, group) in groups.enumerated() {
            let members = group.members.map { subjects[$0] }
            let measured = try losses(members, tokens: group.ids, windows: windows(members.map(\.model)), layerScores: layerScores,
                                      cluster: cluster, threads: threads, quiet: quiet, finalJob: g == groups.count - 1)
            for (index, report) in zip(group.members, measured) { reports[index] = report }
        }
        return reports.map { $0! }
    }

    /// Shares of `windowCount` windows, one task each: all in one on a single in-process
    /// worker (the weights are read once), else up to 16 so that workers split them.
    static func shares(_ windowCount: Int, cluster: ClusterCommandOptions) -> [Range<Int>?] {
        guard !cluster.listen.isEmpty || cluster.localWorkers > 1, windowCount > 1 else { return [nil] }
        let count = min(windowCount, 16)
        return (0..<count).map { i in (i * windowCount / count)..<((i + 1) * windowCount / count) }
    }

    /// Runs the requests as one job; returns it (for its reports) and its wall-clock seconds.
    static func run(_ models: [EvalJob.Model], _ requests: [EvalJob.Request], tokens: [Int32], windows: EvalJob.Windows,
                    cluster: ClusterCommandOptions, threads: Int, quiet: Bool, finalJob: Bool = true) throws -> (job: EvalJob, seconds: Double) {
        let job = try CLIError.wrap { try EvalJob(models: models, requests: requests, tokens: tokens, windows: windows) }
        let report = try JobExecution.run(job, runtime: cluster, threads: threads, quiet: quiet, unit: "passes", finalJob: finalJob)
        return (job, report.seconds)
    }

    /// The loss of each subject over the same tokens (one job; each model's windows in shares).
    /// `seconds` of each report is its share of the job's wall-clock time, by tokens run.
    static func losses(_ subjects: [Subject], tokens: [Int32], windows: EvalJob.Windows, layerScores: Bool = false,
                       cluster: ClusterCommandOptions, threads: Int, quiet: Bool, finalJob: Bool = true) throws -> [LossReport] {
        let plan = try CLIError.wrap { try EvalJob.windowPlan(tokenCount: tokens.count, windows: windows, models: subjects.map(\.model)) }
        var requests: [EvalJob.Request] = []
        var owned: [[Int]] = []
        for (m, subject) in subjects.enumerated() {
            let shares = shares(plan.windows.count, cluster: cluster)
            owned.append(Array(requests.count..<(requests.count + shares.count)))
            for share in shares {
                requests.append(EvalJob.Request(model: m, layerScores: layerScores, windows: share,
                                                label: subject.name + (shares.count > 1 ? " windows \(share!.lowerBound)..<\(share!.upperBound)" : "")))
            }
        }
        let (job, seconds) = try run(subjects.map(\.model), requests, tokens: tokens, windows: windows, cluster: cluster,
                                     threads: threads, quiet: quiet, finalJob: finalJob)
        let reports = try CLIError.wrap { try owned.map { try job.report($0) } }
        let total = reports.reduce(0) { $0 + $1.tokensRun }
        return reports.map { $0.timed(seconds * Double($0.tokensRun) / Double(max(total, 1))) }
    }
}
