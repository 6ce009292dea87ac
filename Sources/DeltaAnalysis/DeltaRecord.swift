import JobModel
/// The delta statistics of one model against the base on one tensor. Sums are exact Float64
/// accumulations (chunk partials combined in chunk order); counts are exact; `maxAbs` and the
/// percentiles are computed from the Float32 values of `|δ|` (see `Percentile`).
///
/// Elements whose `δ` is not finite (an infinite or NaN weight, or an overflowing
/// difference) are counted in `nonFinite` and left out of every other field.
public struct ModelDeltaStats: Sendable, Equatable {
    /// Elements with a finite `δ` (the denominator of every mean and share).
    public var finite: UInt64 = 0
    public var nonFinite: UInt64 = 0
    /// `δ == 0` (the weight did not change).
    public var zeros: UInt64 = 0
    /// `δ > 0`; the negatives are `finite − zeros − positives`.
    public var positives: UInt64 = 0
    /// `|δ| ≤ threshold` (compared in Float64).
    public var withinThreshold: UInt64 = 0
    /// max `|δ|` (0 when `finite == 0`).
    public var maxAbs: Double = 0
    /// Σ `|δ|`.
    public var sumAbs: Double = 0
    /// Σ `δ²`.
    public var sumSquares: Double = 0
    /// Percentiles 50, 90 and 99 of `|δ|` (NaN when `finite == 0`).
    public var p50: Double = .nan
    public var p90: Double = .nan
    public var p99: Double = .nan

    public init() {}

    public var negatives: UInt64 { finite - zeros - positives }

    /// Adds another tensor's (or chunk's) counts and sums and keeps the larger maximum; the
    /// percentiles do not add and are left as they are.
    public static func += (a: inout ModelDeltaStats, b: ModelDeltaStats) {
        a.finite += b.finite
        a.nonFinite += b.nonFinite
        a.zeros += b.zeros
        a.positives += b.positives
        a.withinThreshold += b.withinThreshold
        a.maxAbs = max(a.maxAbs, b.maxAbs)
        a.sumAbs += b.sumAbs
        a.sumSquares += b.sumSquares
    }
}

/// How often two models' deltas point the same way on one tensor.
public struct PairSignStats: Sendable, Equatable {
    /// Elements where both deltas are finite and non-zero.
    public var bothNonZero: UInt64 = 0
    /// Of those, the elements where the two deltas have the same sign.
    public var sameSign: UInt64 = 0

    public init(bothNonZero: UInt64 = 0, sameSign: UInt64 = 0) {
        self.bothNonZero = bothNonZero
        self.sameSign = sameSign
    }

    /// `sameSign / bothNonZero`; nil when no element has both deltas non-zero.
    public var agreement: Double? { bothNonZero == 0 ? nil : Double(sameSign) / Double(bothNonZero) }

    public static func += (a: inout PairSignStats, b: PairSignStats) {
        a.bothNonZero += b.bothNonZero
        a.sameSign += b.sameSign
    }
}

/// The result of one analysis task: the statistics of every model's delta on one tensor, as
/// one fixed-size binary record.
///
/// Layout (docs/analyze.md): 8-byte little-endian words; counts are UInt64, the rest Float64.
///
///     word 0                 elements of the tensor                      UInt64
///     word 1                 Σ W_base²                                   Float64
///     per model m (M models, 11 words each, from word 2 + 11·m):
///       +0 finite  +1 nonFinite  +2 zeros  +3 positives  +4 withinThreshold   UInt64
///       +5 maxAbs  +6 sumAbs  +7 sumSquares  +8 p50  +9 p90  +10 p99         Float64
///     per pair (a, b), a < b, in order (0,1), (0,2), …, (0,M−1), (1,2), …
///     (from word 2 + 11·M, 2 words each):
///       +0 bothNonZero  +1 sameSign                                           UInt64
///
/// The size depends only on the number of models, so a coordinator checks it from its plan.
public struct DeltaRecord: Sendable, Equatable {
    public static let wordsPerModel = 11
    public static let wordsPerPair = 2

    public var elements: UInt64
    public var baseSumSquares: Double
    public var models: [ModelDeltaStats]
    /// One per pair, in `pairs(models:)` order.
    public var pairs: [PairSignStats]

    public init(elements: UInt64, baseSumSquares: Double, models: [ModelDeltaStats], pairs: [PairSignStats]) {
        precondition(pairs.count == DeltaRecord.pairs(models: models.count).count, "one pair statistic per pair of models")
        self.elements = elements
        self.baseSumSquares = baseSumSquares
        self.models = models
        self.pairs = pairs
    }

    /// The model pairs (a < b) in record order.
    public static func pairs(models: Int) -> [(Int, Int)] {
        guard models >= 2 else { return [] }
        return (0..<(models - 1)).flatMap { a in ((a + 1)..<models).map { (a, $0) } }
    }

    /// Bytes of a record for `models` models (besides the base).
    public static func size(models: Int) -> Int {
        8 * (2 + wordsPerModel * models + wordsPerPair * (models * (models - 1) / 2))
    }

    /// The record's bytes (`size(models:)` of them).
    public var bytes: [UInt8] {
        var words: [UInt64] = [elements, baseSumSquares.bitPattern]
        for m in models {
            words += [m.finite, m.nonFinite, m.zeros, m.positives, m.withinThreshold,
                      m.maxAbs.bitPattern, m.sumAbs.bitPattern, m.sumSquares.bitPattern,
                      m.p50.bitPattern, m.p90.bitPattern, m.p99.bitPattern]
        }
        for p in pairs { words += [p.bothNonZero, p.sameSign] }
        return words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) } }
    }

    /// Decodes a record for `models` models; throws when its size is not `size(models:)`.
    public init(bytes: [UInt8], models count: Int) throws(ProblemList) {
        guard bytes.count == DeltaRecord.size(models: count) else {
            throw ProblemList(["a delta record for \(count) models has \(DeltaRecord.size(models: count)) bytes, not \(bytes.count)"])
        }
        var position = 0
        func word() -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
            position += 8
            return value
        }
        func double() -> Double { Double(bitPattern: word()) }
        elements = word()
        baseSumSquares = double()
        models = (0..<count).map { _ in
            var m = ModelDeltaStats()
            m.finite = word(); m.nonFinite = word(); m.zeros = word(); m.positives = word(); m.withinThreshold = word()
            m.maxAbs = double(); m.sumAbs = double(); m.sumSquares = double()
            m.p50 = double(); m.p90 = double(); m.p99 = double()
            return m
        }
        pairs = DeltaRecord.pairs(models: count).map { _ in PairSignStats(bothNonZero: word(), sameSign: word()) }
    }
}
