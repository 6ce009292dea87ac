import DeltaAnalysis
import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport

/// Models that do not fit the base are refused before any work, with every problem named.
@Suite struct AnalyzeErrorTests {
    @Test func everyMissingTensorAndShapeMismatchIsNamedWithItsModel() throws {
        let root = TemporaryFolder.make("analyze")
        let base = try CheckpointBuilder.write(root, "base", [
            ("model.embed_tokens.weight", [4, 2], [Float](repeating: 1, count: 8)),
            ("model.layers.0.mlp.up_proj.weight", [2, 3], [Float](repeating: 1, count: 6)),
            ("model.norm.weight", [2], [1, 1]),
        ])
        let missing = try CheckpointBuilder.write(root, "missing", [
            ("model.embed_tokens.weight", [4, 2], [Float](repeating: 1, count: 8)),
            ("model.norm.weight", [2], [1, 1]),
        ])
        let reshaped = try CheckpointBuilder.write(root, "reshaped", [
            ("model.embed_tokens.weight", [4, 2], [Float](repeating: 1, count: 8)),
            ("model.layers.0.mlp.up_proj.weight", [3, 2], [Float](repeating: 1, count: 6)),
            ("model.norm.weight", [3], [1, 1, 1]),
        ])
        let error = try #require(throws: ProblemList.self) {
            try AnalyzeJob(basePath: base, modelPaths: [missing, reshaped])
        }
        #expect(error.problems.count == 3)
        #expect(error.problems.map(\.description).contains { $0.contains(missing) && $0.contains("model.layers.0.mlp.up_proj.weight") && $0.contains("missing") })
        #expect(error.problems.map(\.description).contains { $0.contains(reshaped) && $0.contains("model.layers.0.mlp.up_proj.weight") && $0.contains("[3, 2]") && $0.contains("[2, 3]") })
        #expect(error.problems.map(\.description).contains { $0.contains(reshaped) && $0.contains("model.norm.weight") && $0.contains("[3]") })
        #expect(error.description.hasPrefix("3 problems:"))
    }

    @Test func tensorsOnlyInAModelAreIgnoredAndListed() throws {
        let root = TemporaryFolder.make("analyze")
        let base = try CheckpointBuilder.write(root, "base", [("model.norm.weight", [2], [1, 1])])
        let bigger = try CheckpointBuilder.write(root, "bigger", [("model.norm.weight", [2], [1, 2]), ("lm_head.weight", [2], [0, 0])])
        let (job, report) = try AnalysisFixtures.analyze(base: base, models: [bigger])
        #expect(job.tasks.map(\.label) == ["model.norm.weight"])
        #expect(report.extra == [["lm_head.weight"]])
    }

    @Test func aBadThresholdIsRefused() throws {
        let error = try #require(throws: ProblemList.self) {
            try AnalyzeJob(basePath: Fixtures.goldenModels + "/base", modelPaths: [Fixtures.goldenModels + "/ft0"], threshold: -1)
        }
        #expect(error.description.contains("threshold"))
    }

    @Test func aWorkerRefusesATaskWhoseRecordSizeDoesNotFitItsSetup() throws {
        let job = try AnalyzeJob(basePath: Fixtures.goldenModels + "/base", modelPaths: [Fixtures.goldenModels + "/ft0"])
        let wrong = AnalyzeTaskRunner(threshold: 0.005, models: 2)
        #expect(throws: JobError.self) { try LocalJobRunner.run(job, runner: wrong, threads: 1) }
    }

    @Test func integerBaseTensorsAreSkippedAndListed() throws {
        let root = TemporaryFolder.make("analyze")
        for name in ["base", "ft"] {
            let writer = try CheckpointWriter(directory: root + "/" + name, tensors: [
                SafeTensorsLayout.Spec(name: "model.norm.weight", dtype: .f32, shape: [1]),
                SafeTensorsLayout.Spec(name: "model.position_ids", dtype: .i64, shape: [1])])
            try [Float(name == "ft" ? 2 : 1)].withUnsafeBytes { try writer.write("model.norm.weight", bytes: $0) }
            try [Int64(7)].withUnsafeBytes { try writer.write("model.position_ids", bytes: $0) }
            try writer.finish()
        }
        let (job, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/ft"])
        #expect(job.tasks.map(\.label) == ["model.norm.weight"])
        #expect(report.skipped == ["model.position_ids"])
        #expect(report.table().contains("not analysed (not floating point): model.position_ids"))
    }
}
