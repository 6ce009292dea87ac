import JobModel
import TensorIO

/// The result of an analysis: every tensor's record, aggregated exactly per layer, per model
/// and per pair of models, with a verdict per model (`DeltaVerdict`). `json()` has every
/// number, `table()` a summary for the terminal (docs/analyze.md).
public struct DeltaReport: Sendable {
    public struct TensorEntry: Sendable {
        public let name: String
        public let shape: [Int]
        /// The transformer layer (`model.layers.N.`, see `LayerName`); nil outside layers.
        public let layer: Int?
        public let record: DeltaRecord
    }

    public struct LayerEntry: Sendable {
        /// nil: the tensors outside any layer (embeddings, final norm, head).
        public let layer: Int?
        public let models: [DeltaAggregate]
        public let pairs: [PairSignStats]
        public var tensors: Int { models.first?.tensors ?? 0 }
        public var elements: UInt64 { models.first?.elements ?? 0 }
    }

    public let base: String
    public let modelNames: [String]
    public let threshold: Double
    public let tensors: [TensorEntry]
    /// Layers in ascending order, then the tensors outside layers (when there are any).
    public let layers: [LayerEntry]
    /// Whole-model aggregates, one per model.
    public let models: [DeltaAggregate]
    /// Whole-model sign agreement, in `DeltaRecord.pairs(models:)` order.
    public let pairs: [PairSignStats]
    public let skipped: [String]
    public let extra: [[String]]

    /// Aggregates `tensors` (records in tensor order).
    public init(base: String, modelNames: [String], threshold: Double, tensors: [TensorEntry],
                skipped: [String] = [], extra: [[String]]? = nil) {
        self.base = base
        self.modelNames = modelNames
        self.threshold = threshold
        self.tensors = tensors
        self.skipped = skipped
        self.extra = extra ?? modelNames.map { _ in [] }
        let count = modelNames.count
        let pairCount = DeltaRecord.pairs(models: count).count
        func aggregate(_ entries: [TensorEntry]) -> ([DeltaAggregate], [PairSignStats]) {
            var models = [DeltaAggregate](repeating: DeltaAggregate(), count: count)
            var pairs = [PairSignStats](repeating: PairSignStats(), count: pairCount)
            for entry in entries {
                for m in 0..<count {
                    models[m].add(entry.record.models[m], elements: entry.record.elements, baseSumSquares: entry.record.baseSumSquares)
                }
                for p in 0..<pairCount { pairs[p] += entry.record.pairs[p] }
            }
            return (models, pairs)
        }
        (models, pairs) = aggregate(tensors)
        let indices = Set(tensors.compactMap(\.layer)).sorted()
        var layers = indices.map { index in
            let (m, p) = aggregate(tensors.filter { $0.layer == index })
            return LayerEntry(layer: index, models: m, pairs: p)
        }
        let outside = tensors.filter { $0.layer == nil }
        if !outside.isEmpty {
            let (m, p) = aggregate(outside)
            layers.append(LayerEntry(layer: nil, models: m, pairs: p))
        }
        self.layers = layers
    }

    /// The report of a finished job.
    public init(_ job: AnalyzeJob) throws(ProblemList) {
        var entries: [TensorEntry] = []
        var problems: [ProblemList.Problem] = []
        for tensor in job.tensors {
            do throws(ProblemList) {
                entries.append(TensorEntry(name: tensor.name, shape: tensor.shape, layer: LayerName(tensor.name)?.index,
                                           record: try job.record(tensor.name)))
            } catch {
                problems += error.problems
            }
        }
        guard problems.isEmpty else { throw ProblemList(problems: problems) }
        self.init(base: job.base.path, modelNames: job.analyzed.map(\.path), threshold: job.threshold, tensors: entries,
                  skipped: job.skipped, extra: job.extra)
    }

    /// The verdict for model `m`.
    public func verdict(_ m: Int) -> DeltaVerdict { DeltaVerdict(models[m]) }

    public func verdictMessage(_ m: Int) -> String {
        verdict(m).message(threshold: threshold, share: models[m].shareWithin)
    }
}
