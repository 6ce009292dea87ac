import DeltaAnalysis
import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport

/// Running an analysis in-process, deterministic values for small models, and the independent
/// python + numpy reference. (The models: `Fixtures.goldenModels`, `Fixtures.examples`, or
/// written with `CheckpointBuilder`.)
enum AnalysisFixtures {
    static let referenceScript = Fixtures.repository + "/Tests/DeltaAnalysisTests/Support/analyze_reference.py"

    /// Plans and runs an analysis in this process; returns the job (with its records) and the report.
    static func analyze(base: String, models: [String], threshold: Double = 0.005, threads: Int = 2) throws -> (AnalyzeJob, DeltaReport) {
        let job = try AnalyzeJob(basePath: base, modelPaths: models, threshold: threshold)
        try LocalJobRunner.run(job, runner: AnalyzeTaskRunner(job), threads: threads)
        return (job, try DeltaReport(job))
    }

    /// Deterministic pseudo-random values in [-scale, scale) (a 64-bit LCG; no dependency on
    /// the code under test).
    static func values(_ count: Int, scale: Float, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// Runs the reference script; returns its JSON, parsed with TensorIO's parser (numbers
    /// keep their exact text, so Float64 values compare bit for bit).
    static func reference(threshold: Double, base: String, models: [String]) throws -> JSONValue {
        let result = try Python.run([referenceScript, "\(threshold)", base] + models)
        try #require(result.status == 0, "analyze_reference.py failed: \(result.stderr)")
        return try JSONParser.parse(result.stdout)
    }
}
