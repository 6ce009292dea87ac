import Evaluator
import Foundation
import JobModel
import SweepEngine
import Testing
import TensorIO
import TestSupport

/// Sweeps measured in place (`--eval-text`/`--eval-tokens`): every baseline and variant an
/// eval task, nothing written, numbers those of `crucible eval` on the written variant.
@Suite struct InPlaceSweepTests {
    static let llama = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/llama"
    static let tied = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/llama_tied"

    /// Deterministic token ids below the fixtures' vocabulary of 192.
    static func tokens(_ count: Int) -> [Int32] {
        var rng = SplitMix64(seed: 7)
        return (0..<count).map { _ in Int32(rng.next() % 192) }
    }

    static func spec(_ models: [String], out: String, antithetic: Bool = false, threads: Int = 2) -> SweepSpec {
        var spec = SweepFixtures.spec(models, out: out, sigmas: [1e-2, 1e-1], seeds: [0, 1], threads: threads)
        spec.inPlace = InPlaceEval(tokens: tokens(96), windows: EvalJob.Windows(context: 32, stride: 32), source: "test tokens")
        spec.keep = .none
        spec.antithetic = antithetic
        return spec
    }

    /// Runs a sweep's jobs here, each kind with its own runner.
    static func run(_ spec: SweepSpec) throws -> SweepResults {
        try SweepRunner(plan: try SweepPlan(spec)).run { job, _ in
            try LocalJobRunner.run(job, runner: try job.jobKind.runner(setup: job.setup), threads: spec.threads)
        }
    }

    /// Per variant (by folder) and baseline: the metric and window losses, as sweep.json has them.
    static func numbers(_ out: String) throws -> [String: [Double]] {
        let json = try SweepFixtures.report(out)
        var numbers: [String: [Double]] = [:]
        for v in try #require(json["variants"] as? [[String: Any]]) {
            numbers[try #require(v["path"] as? String)] = [try #require(v["metric"] as? Double)] + (v["window_losses"] as? [Double] ?? [])
        }
        for b in try #require(json["baseline"] as? [[String: Any]]) {
            numbers["baseline " + (try #require(b["model"] as? String))] = [try #require(b["metric"] as? Double)] + (b["window_losses"] as? [Double] ?? [])
        }
        return numbers
    }

    @Test("in place, nothing is written but the reports; each loss is bit-identical to evaluating the variant written in float32")
    func matchesTheWrittenVariant() throws {
        let out = TemporaryFolder.path("inplace")
        let results = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama, InPlaceSweepTests.tied], out: out))
        #expect(results.variants.count == 8 && results.variants.allSatisfy { $0.metric != nil && $0.statistics == nil })
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == [".sweep-state", "sensitivity.svg", "sweep.csv", "sweep.json"])

        // The same variants written in float32 by a sweep without evaluation, then evaluated.
        let written = TemporaryFolder.path("written")
        var spec = SweepFixtures.spec([InPlaceSweepTests.llama, InPlaceSweepTests.tied], out: written, sigmas: [1e-2, 1e-1], seeds: [0, 1])
        spec.outputDType = .f32
        _ = try SweepFixtures.run(spec)
        for result in results.variants {
            let forward = try ForwardPass(checkpoint: try Checkpoint(path: written + "/" + result.variant.folder))
            let report = try Evaluation(context: 32, stride: 32).run(forward, name: "written", tokens: InPlaceSweepTests.tokens(96))
            #expect(report.loss.bitPattern == result.metric!.bitPattern, "\(result.variant.folder)")
            #expect(report.windows.map(\.loss) == result.windowLosses)
        }
        for baseline in results.baselines {
            let forward = try ForwardPass(checkpoint: try Checkpoint(path: baseline.model))
            let report = try Evaluation(context: 32, stride: 32).run(forward, name: "base", tokens: InPlaceSweepTests.tokens(96))
            #expect(report.loss.bitPattern == baseline.metric!.bitPattern)
        }
        // Noise changes the loss, more with σ.
        let deltas = results.summaries.filter { $0.model == InPlaceSweepTests.llama }.map { abs($0.mean) }
        #expect(deltas.count == 2 && deltas[0] > 0 && deltas[1] > deltas[0])
    }

    @Test("the numbers do not depend on the thread count")
    func independentOfThreads() throws {
        let one = TemporaryFolder.path("inplace"), three = TemporaryFolder.path("inplace")
        _ = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: one, antithetic: true, threads: 1))
        _ = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: three, antithetic: true, threads: 3))
        #expect(try InPlaceSweepTests.numbers(one) == InPlaceSweepTests.numbers(three))
        #expect(try InPlaceSweepTests.numbers(one).count == 5)
    }

    @Test("--antithetic measures W + σsε and W − σsε: the metric is their mean, the summary has a standard error over seeds")
    func antithetic() throws {
        let out = TemporaryFolder.path("inplace")
        let results = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: out, antithetic: true))
        for result in results.variants {
            let signed = try #require(result.signedMetrics)
            #expect(signed.count == 2 && signed[0] != signed[1])
            #expect(result.metric == (signed[0] + signed[1]) / 2)
            #expect(result.windowLosses?.count == 6, "3 windows of each sign")
        }
        // The + half is the one-sided sweep's variant.
        let plain = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: TemporaryFolder.path("inplace")))
        #expect(zip(plain.variants, results.variants).allSatisfy { $0.metric == $1.signedMetrics?.first })
        let summary = try #require(results.summaries.first)
        let deltas = summary.deltas
        let mean = deltas.reduce(0, +) / 2
        let expected = (((deltas[0] - mean) * (deltas[0] - mean) + (deltas[1] - mean) * (deltas[1] - mean)) / 2).squareRoot()
        #expect(abs(try #require(summary.standardError) - expected) <= 1e-15 * max(1, expected))
        let json = try SweepFixtures.report(out)
        #expect((json["variants"] as? [[String: Any]])?.first?["metric_minus"] is Double)
        #expect((json["summary"] as? [[String: Any]])?.first?["delta_stderr"] is Double)
        #expect(try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).hasPrefix("model,sigma,seed,path,metric,baseline_metric,delta,relative_noise,error,metric_plus,metric_minus\n"))
    }

    struct Interrupted: Error {}

    @Test("an interrupted in-place sweep resumes per variant: finished measurements are not repeated")
    func resumesPerVariant() throws {
        let out = TemporaryFolder.path("inplace")
        let spec = InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: out, antithetic: true)
        // The first run dies after 4 of its 9 tasks (the baseline, 1½ variants).
        #expect(throws: Interrupted.self) {
            _ = try SweepRunner(plan: try SweepPlan(spec)).run { job, _ in
                let runner = try job.jobKind.runner(setup: job.setup)
                let inputs = CheckpointInputs(job.models)
                for (index, task) in job.tasks.prefix(4).enumerated() {
                    try LocalJobRunner.run(task, of: job, runner: runner, inputs: inputs, threads: 2)
                    try job.taskFinished(index)
                }
                throw Interrupted()
            }
        }
        #expect((try SweepFixtures.report(out)["variants"] as? [[String: Any]])?.count == 1)
        var resumed = spec
        resumed.resume = true
        var labels: [String] = []
        let results = try SweepRunner(plan: try SweepPlan(resumed)).run { job, _ in
            labels = job.tasks.map(\.label)
            try LocalJobRunner.run(job, runner: try job.jobKind.runner(setup: job.setup), threads: 2)
        }
        #expect(labels.count == 6, "3 variants × 2 signs left: \(labels)")
        #expect(!labels.contains { $0.hasPrefix("baseline") })
        let fresh = TemporaryFolder.path("inplace")
        _ = try InPlaceSweepTests.run(InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: fresh, antithetic: true))
        #expect(try InPlaceSweepTests.numbers(out) == InPlaceSweepTests.numbers(fresh))
        #expect(results.complete)
    }

    @Test("bad in-place settings are refused before anything runs")
    func refusals() throws {
        var spec = InPlaceSweepTests.spec([InPlaceSweepTests.llama], out: TemporaryFolder.path("inplace"))
        spec.eval = "echo 1"
        #expect(throws: ProblemList.self) { _ = try SweepPlan(spec) }
        var antithetic = SweepFixtures.spec([InPlaceSweepTests.llama], out: TemporaryFolder.path("inplace"), sigmas: [0.1], seeds: [0])
        antithetic.antithetic = true
        antithetic.eval = "echo 1"
        #expect(throws: ProblemList.self) { _ = try SweepPlan(antithetic) }
        // A context longer than the model's (llama_tied holds 32 positions).
        var long = InPlaceSweepTests.spec([InPlaceSweepTests.tied], out: TemporaryFolder.path("inplace"))
        long.inPlace!.windows = EvalJob.Windows(context: 48, stride: 48)
        #expect(throws: EvalError.self) { _ = try InPlaceSweepTests.run(long) }
    }
}
