/// One model's delta statistics summed exactly over several tensors (a layer, the whole
/// model): counts and sums add up, maxima take the maximum. Means, shares and norm ratios
/// are then element-weighted over the group. Percentiles do not aggregate this way and are
/// reported per tensor only.
public struct DeltaAggregate: Sendable, Equatable {
    public var tensors = 0
    /// Elements of the tensors (finite or not).
    public var elements: UInt64 = 0
    public var finite: UInt64 = 0
    public var nonFinite: UInt64 = 0
    public var zeros: UInt64 = 0
    public var positives: UInt64 = 0
    public var withinThreshold: UInt64 = 0
    public var maxAbs: Double = 0
    public var sumAbs: Double = 0
    public var sumSquares: Double = 0
    public var baseSumSquares: Double = 0

    public init() {}

    /// Adds one tensor's statistics (`baseSumSquares` and `elements` come from its record).
    public mutating func add(_ stats: ModelDeltaStats, elements: UInt64, baseSumSquares: Double) {
        tensors += 1
        self.elements += elements
        finite += stats.finite
        nonFinite += stats.nonFinite
        zeros += stats.zeros
        positives += stats.positives
        withinThreshold += stats.withinThreshold
        maxAbs = max(maxAbs, stats.maxAbs)
        sumAbs += stats.sumAbs
        sumSquares += stats.sumSquares
        self.baseSumSquares += baseSumSquares
    }

    /// mean `|δ|` = Σ|δ| / finite; nil without finite elements.
    public var meanAbs: Double? { finite == 0 ? nil : sumAbs / Double(finite) }
    /// Share of finite elements with `|δ| ≤ threshold`; nil without finite elements.
    public var shareWithin: Double? { finite == 0 ? nil : Double(withinThreshold) / Double(finite) }
    /// Share of finite elements with `δ == 0`.
    public var shareZero: Double? { finite == 0 ? nil : Double(zeros) / Double(finite) }
    /// ‖δ‖₂ / ‖W_base‖₂ = √(Σδ²) / √(ΣW²); nil when the base's norm is 0 (or not finite).
    public var relativeNorm: Double? {
        guard baseSumSquares > 0, baseSumSquares.isFinite else { return nil }
        return (sumSquares / baseSumSquares).squareRoot()
    }
}

/// Two models' sign agreement summed over several tensors.
public struct PairAggregate: Sendable, Equatable {
    public var counts = PairSignStats()

    public init() {}

    public mutating func add(_ stats: PairSignStats) {
        counts.bothNonZero += stats.bothNonZero
        counts.sameSign += stats.sameSign
    }

    public var agreement: Double? { counts.agreement }
}
