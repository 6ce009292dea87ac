import DeltaAnalysis
import JobModel
import MergeEngine
import SweepEngine

/// The kinds of job a worker can run, by name: how it builds a `TaskRunner` from a job's setup.
public enum JobKinds {
    public typealias Factory = @Sendable (_ setup: [UInt8]) throws -> any TaskRunner

    /// Every kind this build knows.
    public static let builtIn: [String: Factory] = [
        MergeTaskRunner.name: { try MergeTaskRunner.runner(setup: $0) },
        SweepTaskRunner.name: { try SweepTaskRunner.runner(setup: $0) },
        AnalyzeTaskRunner.name: { try AnalyzeTaskRunner.runner(setup: $0) },
    ]
}
