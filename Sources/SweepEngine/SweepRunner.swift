import Foundation
import JobModel
import TensorIO

/// Runs a sweep. With an eval command: evaluates each model's baseline once, then for each
/// batch runs one `SweepJob` (through `runJob`: locally or on a cluster), evaluates every
/// variant it produced, deletes it with `keep: none`, and rewrites the reports after every
/// batch; at most `batchSize` variant folders exist at once with `keep: none`. In place
/// (`spec.inPlace`): writes the variant folders only with `keep: all`, then runs one
/// `EvalJob` whose tasks are every baseline and variant not measured yet, recording each as
/// it finishes.
public struct SweepRunner {
    /// Runs one job to completion, its `finish()` included (its tasks are computed here or on
    /// workers); `last` is true for the sweep's last job (remote workers may leave after it).
    public typealias JobRunner = (_ job: any DistributedJob, _ last: Bool) throws -> Void

    public let plan: SweepPlan
    let log: (String) -> Void

    /// `log` gets warnings and one line per evaluation.
    public init(plan: SweepPlan, log: @escaping (String) -> Void = { _ in }) {
        self.plan = plan
        self.log = log
    }

    /// The folder where eval commands' standard output and error are kept.
    public var logDirectory: String { FileSystem.join(plan.spec.outDir, "logs") }

    public func run(runJob: JobRunner) throws -> SweepResults {
        let spec = plan.spec
        try FileSystem.makeDirectories(spec.outDir)
        let eval = spec.eval.map { EvalCommand($0, timeout: spec.evalTimeout) }
        if eval != nil { try FileSystem.makeDirectories(logDirectory) }
        let stems = plan.stems

        let state = try SweepState(plan: plan, resume: spec.resume)
        var results = SweepResults(scale: spec.scale, inPlace: spec.inPlace, antithetic: spec.antithetic)
        for (m, model) in spec.models.enumerated() {
            var baseline = state.baseline(model) ?? BaselineResult(model: model)
            if state.baseline(model) == nil, let eval {
                let path = FileSystem.absolute(model)
                let outcome = eval.run(.init(model: path, sigma: "0", seed: "none", base: path),
                                       log: FileSystem.join(logDirectory, "\(stems[m])_baseline"))
                baseline.metric = outcome.metric
                baseline.error = outcome.error
                log(outcome.error.map { "baseline \(model): eval failed: \($0)" } ?? "baseline \(model): \(outcome.metric!)")
                try state.record(baseline)
            }
            results.baselines.append(baseline)
        }
        try results.write(to: spec.outDir)

        // A resumed sweep keeps what an interrupted run finished and redoes the rest (a
        // variant folder left without a recorded result is incomplete work).
        var remaining: [Int] = []
        for variant in plan.variants {
            if let done = state.result(variant, model: spec.models[variant.model]) {
                results.variants.append(done)
                if spec.keep == .none { FileSystem.remove(plan.path(of: variant)) }
            } else {
                FileSystem.remove(plan.path(of: variant))
                remaining.append(variant.index)
            }
        }
        let pending = Set(remaining)
        let batches = plan.batches.map { $0.filter(pending.contains) }.filter { !$0.isEmpty }
        let measuring = spec.inPlace != nil
            && (!remaining.isEmpty || results.baselines.contains { $0.metric == nil && $0.error == nil })

        var warned = Set<String>()
        var written: [Int: NoiseStatistics] = [:]
        var measuringJob: InPlaceSweep?
        do {
            for (number, batch) in batches.enumerated() {
                let job = try SweepJob(plan: plan, batch: batch)
                try runJob(job, number == batches.count - 1 && !measuring)
                for (variant, stats) in zip(job.variants, try job.statistics()) {
                    let model = spec.models[variant.model]
                    let label = "\(model) σ=\(SweepPlan.format(variant.sigma)) seed \(variant.seed)"
                    if stats.unchangedFraction > 0.5 && warned.insert("\(variant.model)/\(variant.sigma)").inserted {
                        log(SweepRunner.roundingWarning(label, stats: stats, dtypes: plan.tensors[variant.model]))
                    }
                    if spec.inPlace != nil {
                        // Measured in place below; recorded then, with these statistics.
                        written[variant.index] = stats
                        continue
                    }
                    var result = VariantResult(variant: variant, model: model, statistics: stats)
                    let path = plan.path(of: variant)
                    if let eval {
                        let outcome = eval.run(.init(model: FileSystem.absolute(path), sigma: SweepPlan.format(variant.sigma),
                                                     seed: "\(variant.seed)", base: FileSystem.absolute(model)),
                                               log: FileSystem.join(logDirectory, variant.folder))
                        result.metric = outcome.metric
                        result.error = outcome.error
                        if let error = outcome.error {
                            log("\(label): eval failed: \(error)")
                        } else {
                            let delta = results.baselineMetric(model).map { String(format: " (Δ %+.4g)", outcome.metric! - $0) } ?? ""
                            log("\(label): \(outcome.metric!)\(delta)")
                        }
                    }
                    try state.record(result)
                    if spec.keep == .none { FileSystem.remove(path) }
                    results.variants.append(result)
                }
                results.variants.sort { $0.variant.index < $1.variant.index }
                try results.write(to: spec.outDir)
            }
            if measuring, let inPlace = spec.inPlace {
                let measured = try InPlaceSweep(plan: plan, inPlace: inPlace, results: results, remaining: remaining, statistics: written,
                                                state: state, log: log)
                measuringJob = measured
                try runJob(try measured.job(), true)
                results = measured.results
            }
        } catch {
            try? (measuringJob?.results ?? results).write(to: spec.outDir)
            throw error
        }
        results.variants.sort { $0.variant.index < $1.variant.index }
        results.complete = true
        try results.write(to: spec.outDir)
        return results
    }

    /// The warning when rounding to the output dtype swallowed most of the noise.
    static func roundingWarning(_ label: String, stats: NoiseStatistics, dtypes: [SweepTensor]) -> String {
        let names = Set(dtypes.filter(\.perturb).map(\.outputDType.rawValue)).sorted().joined(separator: "/")
        let realised = stats.relativeNoise.map { String(format: "%.3g", $0) } ?? "0"
        let intended = stats.intendedRelativeNoise.map { String(format: "%.3g", $0) } ?? "0"
        return "warning: \(label): rounding to \(names) left \(Int((stats.unchangedFraction * 100).rounded()))% of the perturbed "
            + "weights unchanged; realised relative noise \(realised) instead of \(intended). "
            + "Use --out-dtype float32 or larger σ."
    }
}
