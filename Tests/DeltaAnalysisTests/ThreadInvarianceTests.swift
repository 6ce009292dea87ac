import DeltaAnalysis
import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport

/// The records do not depend on the number of threads, and the streaming radix selection
/// finds exactly the percentiles that sorting finds.
@Suite struct ThreadInvarianceTests {
    /// A base and two models with a tensor of several (uneven) chunks, BF16 so that many
    /// deltas repeat (ties in the selection), plus a 1-element and a 0-D-like small tensor.
    static func largeFamily() throws -> String {
        let root = TemporaryFolder.make("analyze")
        let n = 3 * DeltaKernel.chunkElements + 12_345
        let base = AnalysisFixtures.values(n, scale: 0.05, seed: 1)
        let tiny: [Float] = [0.25]
        try CheckpointBuilder.write(root, "base", [("model.layers.0.big.weight", [n], base), ("model.layers.0.tiny", [1], tiny)], dtype: .bf16)
        for (name, seed) in [("a", UInt64(2)), ("b", UInt64(3))] {
            let delta = AnalysisFixtures.values(n, scale: 0.01, seed: seed)
            try CheckpointBuilder.write(root, name, [("model.layers.0.big.weight", [n], zip(base, delta).map(+)),
                                                   ("model.layers.0.tiny", [1], [0.375])], dtype: .bf16)
        }
        return root
    }

    func records(_ base: String, _ models: [String], threads: Int) throws -> [String: [UInt8]] {
        let (job, _) = try AnalysisFixtures.analyze(base: base, models: models, threads: threads)
        return Dictionary(uniqueKeysWithValues: try job.tensors.map { ($0.name, try #require(job.store.record($0.name))) })
    }

    @Test func recordsAreByteIdenticalForOneAndFourThreads() throws {
        let root = try Self.largeFamily()
        let models = [root + "/a", root + "/b"]
        let one = try records(root + "/base", models, threads: 1)
        #expect(one.count == 2)
        #expect(try records(root + "/base", models, threads: 4) == one)

        let golden = ["ft0", "ft1", "ft2"].map { Fixtures.goldenModels + "/" + $0 }
        let goldenOne = try records(Fixtures.goldenModels + "/base", golden, threads: 1)
        #expect(goldenOne.count == 39)
        #expect(try records(Fixtures.goldenModels + "/base", golden, threads: 4) == goldenOne)
    }

    @Test func aRunnerBuiltFromTheSetupComputesTheSameRecords() throws {
        let root = try Self.largeFamily()
        let job = try AnalyzeJob(basePath: root + "/base", modelPaths: [root + "/a", root + "/b"], threshold: 0.004)
        let worker = try AnalyzeTaskRunner.runner(setup: job.setup)
        let direct = try AnalyzeJob(basePath: root + "/base", modelPaths: [root + "/a", root + "/b"], threshold: 0.004)
        try LocalJobRunner.run(job, runner: worker, threads: 2)
        try LocalJobRunner.run(direct, runner: AnalyzeTaskRunner(direct), threads: 3)
        for tensor in job.tensors {
            #expect(job.store.record(tensor.name) == direct.store.record(tensor.name))
            #expect(job.store.record(tensor.name)?.count == job.tasks.first { $0.label == tensor.name }?.parts[0].bytes)
        }
    }

    @Test func percentilesOverManyChunksEqualSorting() throws {
        let root = try Self.largeFamily()
        let (job, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a", root + "/b"], threads: 2)
        let checkpoints = job.models
        for entry in report.tensors {
            let base = try checkpoints[0].tensor(entry.name).float32()
            for m in 0..<2 {
                let model = try checkpoints[m + 1].tensor(entry.name).float32()
                let sorted = zip(model, base).map { Double(abs($0 - $1)) }.sorted()
                let stats = entry.record.models[m]
                #expect(stats.p50 == Percentile.ofSorted(sorted, 50), "\(entry.name) model \(m) p50")
                #expect(stats.p90 == Percentile.ofSorted(sorted, 90), "\(entry.name) model \(m) p90")
                #expect(stats.p99 == Percentile.ofSorted(sorted, 99), "\(entry.name) model \(m) p99")
                #expect(stats.maxAbs == sorted.last)
            }
        }
    }
}
