import Foundation
import MergeEngine
import TensorIO

/// The `--dry-run` plan and the end-of-merge paragraph.
struct PlanSummary {
    let text: String

    init(_ plan: MergePlan, threads: Int) {
        var lines = [
            "method:        \(plan.method.name)",
            "models:        " + plan.modelPaths.enumerated().map { i, p in i == plan.referenceModel && plan.config.baseModel != nil ? "\(p) (base)" : p }.joined(separator: ", "),
            "tensors:       \(plan.tensors.count) (\(plan.layerCount) layers)",
            "output dtype:  \(plan.outputDType.rawValue)",
            "bytes to read: \(ByteCount.format(plan.bytesToRead))",
            "bytes to write: \(ByteCount.format(plan.bytesToWrite))",
            "peak memory:   ~\(ByteCount.format(plan.peakMemoryEstimate(threads: threads))) working set with \(threads) thread\(threads == 1 ? "" : "s") (inputs are memory-mapped)",
        ]
        if let rows = plan.vocabularySize {
            lines.append("vocabulary:    \(rows) token rows (" + (plan.config.tokenizer != nil ? "laid out by the config's tokenizer:"
                                                                   : "cut to the rows every model has: --unsafe-truncate-embeddings") + ")")
        }
        if plan.method.isRandomized { lines.append("randomized:    yes (reproducible with --random-seed)") }
        text = lines.joined(separator: "\n")
    }

    static func report(_ report: MergeReport, plan: MergePlan, threads: Int, reused: Int = 0) -> String {
        let seconds = max(report.seconds, 1e-6)
        let rate = Double(report.bytesRead + report.bytesWritten) / seconds
        return "Merged \(report.tensors) tensors with \(plan.method.name) from \(plan.modelPaths.count) model\(plan.modelPaths.count == 1 ? "" : "s") "
            + "in \(ByteCount.formatDecimal(report.seconds, places: 2)) s on \(threads) thread\(threads == 1 ? "" : "s"): "
            + "read \(ByteCount.format(report.bytesRead)), wrote \(ByteCount.format(report.bytesWritten)) "
            + "(\(plan.outputDType.rawValue), \(report.shards) shard\(report.shards == 1 ? "" : "s")) at \(ByteCount.format(Int(rate)))/s. "
            + (reused > 0 ? "Resumed: \(reused) tensors reused from the interrupted run. " : "")
            + "Output: \(report.outputDirectory)"
    }
}
