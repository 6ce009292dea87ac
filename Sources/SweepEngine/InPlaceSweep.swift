import Evaluator
import Foundation
import JobModel
import Synchronization
import TensorIO

/// The measuring part of a sweep evaluated in place: one `EvalJob` whose tasks are every
/// baseline and every variant (both signs with `--antithetic`) not measured yet. Each result is
/// recorded in the sweep's state and the reports are rewritten as its tasks finish, so an
/// interrupted sweep resumes per variant.
final class InPlaceSweep: Sendable {
    /// What a task measures: a model's baseline, or one sign of a variant.
    enum Subject: Sendable {
        case baseline(model: Int)
        case variant(index: Int, sign: Int)
    }

    struct Progress {
        var results: SweepResults
        /// Losses of the variants whose other sign is not measured yet.
        var halves: [Int: [Int: LossReport]] = [:]
        var started = Date()
        var tokensRun = 0
    }

    let plan: SweepPlan
    let inPlace: InPlaceEval
    let subjects: [Subject]
    /// Statistics of the variants written in this run (`keep: all`).
    let statistics: [Int: NoiseStatistics]
    private let progress: Mutex<Progress>
    private let state: SweepState
    private let log: @Sendable (String) -> Void

    init(plan: SweepPlan, inPlace: InPlaceEval, results: SweepResults, remaining: [Int], statistics: [Int: NoiseStatistics],
         state: SweepState, log: @escaping (String) -> Void) throws {
        self.plan = plan
        self.inPlace = inPlace
        self.statistics = statistics
        var subjects: [Subject] = []
        for (m, baseline) in results.baselines.enumerated() where baseline.metric == nil && baseline.error == nil {
            subjects.append(.baseline(model: m))
        }
        for index in remaining {
            subjects.append(.variant(index: index, sign: 1))
            if plan.spec.antithetic { subjects.append(.variant(index: index, sign: -1)) }
        }
        self.subjects = subjects
        progress = Mutex(Progress(results: results))
        self.state = state
        let unchecked = UncheckedLog(log)
        self.log = { unchecked.log($0) }
    }

    /// The results so far (all of them once the job ran).
    var results: SweepResults { progress.withLock { $0.results } }

    /// The job measuring every subject.
    func job() throws -> EvalJob {
        let spec = plan.spec
        let models = try plan.checkpoints.enumerated().map { m, checkpoint in
            try EvalJob.Model(name: spec.models[m], checkpoint: checkpoint, perturbed: plan.tensors[m].filter(\.perturb).map(\.name),
                              fixedScale: plan.fixedScales[m])
        }
        let requests = subjects.map { subject -> EvalJob.Request in
            switch subject {
            case .baseline(let m):
                return EvalJob.Request(model: m, label: "baseline \(spec.models[m])")
            case .variant(let index, let sign):
                let v = plan.variants[index]
                return EvalJob.Request(model: v.model, noise: EvalJob.Noise(sigma: v.sigma, seed: v.seed, sign: sign),
                                       label: "\(spec.models[v.model]) σ=\(SweepPlan.format(v.sigma)) seed \(v.seed)"
                                           + (spec.antithetic ? (sign > 0 ? " (+)" : " (−)") : ""))
            }
        }
        progress.withLock { $0.started = Date() }
        return try EvalJob(models: models, requests: requests, tokens: inPlace.tokens, windows: inPlace.windows) { [self] task, report in
            try self.finished(subjects[task], report)
        }
    }

    /// Records one finished task: a baseline, or a variant once all its signs are measured.
    private func finished(_ subject: Subject, _ report: LossReport) throws {
        let lines = try progress.withLock { p -> [String] in
            p.tokensRun += report.tokensRun
            let seconds = Date().timeIntervalSince(p.started)
            p.results.tokensPerSecond = seconds > 0 ? Double(p.tokensRun) / seconds : nil
            var lines: [String] = []
            switch subject {
            case .baseline(let m):
                var baseline = BaselineResult(model: plan.spec.models[m], metric: report.loss)
                baseline.windowLosses = report.windows.map(\.loss)
                try state.record(baseline)
                p.results.baselines[m] = baseline
                lines.append("baseline \(baseline.model): loss \(String(format: "%.6f", report.loss))")
            case .variant(let index, let sign):
                var halves = p.halves[index, default: [:]]
                halves[sign] = report
                let signs = plan.spec.antithetic ? [1, -1] : [1]
                guard signs.allSatisfy({ halves[$0] != nil }) else {
                    p.halves[index] = halves
                    break
                }
                p.halves[index] = nil
                let variant = plan.variants[index]
                let reports = signs.map { halves[$0]! }
                var result = VariantResult(variant: variant, model: plan.spec.models[variant.model], statistics: statistics[index],
                                           metric: reports.map(\.loss).reduce(0, +) / Double(reports.count))
                result.windowLosses = reports.flatMap { $0.windows.map(\.loss) }
                if plan.spec.antithetic { result.signedMetrics = reports.map(\.loss) }
                try state.record(result)
                p.results.variants.append(result)
                p.results.variants.sort { $0.variant.index < $1.variant.index }
                let delta = p.results.delta(result).map { String(format: " (Δ %+.4g)", $0) } ?? ""
                lines.append("\(result.model) σ=\(SweepPlan.format(variant.sigma)) seed \(variant.seed): loss "
                             + String(format: "%.6f", result.metric!) + delta)
            }
            try p.results.write(to: plan.spec.outDir)
            return lines
        }
        lines.forEach(log)
    }
}

/// The runner's log, called from the coordinator's thread while the runner waits for the job.
final class UncheckedLog: @unchecked Sendable {
    let log: (String) -> Void
    init(_ log: @escaping (String) -> Void) { self.log = log }
}
