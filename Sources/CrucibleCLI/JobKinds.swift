import DeltaAnalysis
import JobModel
import MergeEngine
import SweepEngine

/// The kinds of job this executable's workers run: the one place where the runtime meets
/// the engines (ClusterRuntime knows none of them).
enum JobKinds {
    static let builtIn: [any JobKind.Type] = [MergeTaskRunner.self, SweepTaskRunner.self, AnalyzeTaskRunner.self, EvalTaskRunner.self]
}
