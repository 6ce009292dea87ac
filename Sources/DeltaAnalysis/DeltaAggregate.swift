/// One model's delta statistics summed exactly over several tensors (a layer, the whole
/// model): counts and sums add up, maxima take the maximum. Means, shares and norm ratios
/// are then element-weighted over the group. Percentiles do not aggregate this way and are
/// reported per tensor only.
@dynamicMemberLookup
public struct DeltaAggregate: Sendable {
    public var tensors = 0
    /// Elements of the tensors (finite or not).
    public var elements: UInt64 = 0
    public var baseSumSquares: Double = 0
    /// Counts, sums and maximum over the group (its percentiles stay NaN).
    public var stats = ModelDeltaStats()

    public init() {}

    public subscript<T>(dynamicMember path: WritableKeyPath<ModelDeltaStats, T>) -> T {
        get { stats[keyPath: path] }
        set { stats[keyPath: path] = newValue }
    }
    public subscript<T>(dynamicMember path: KeyPath<ModelDeltaStats, T>) -> T { stats[keyPath: path] }

    /// Adds one tensor's statistics (`baseSumSquares` and `elements` come from its record).
    public mutating func add(_ stats: ModelDeltaStats, elements: UInt64, baseSumSquares: Double) {
        tensors += 1
        self.elements += elements
        self.baseSumSquares += baseSumSquares
        self.stats += stats
    }

    /// mean `|δ|` = Σ|δ| / finite; nil without finite elements.
    public var meanAbs: Double? { stats.finite == 0 ? nil : stats.sumAbs / Double(stats.finite) }
    /// Share of finite elements with `|δ| ≤ threshold`; nil without finite elements.
    public var shareWithin: Double? { stats.finite == 0 ? nil : Double(stats.withinThreshold) / Double(stats.finite) }
    /// Share of finite elements with `δ == 0`.
    public var shareZero: Double? { stats.finite == 0 ? nil : Double(stats.zeros) / Double(stats.finite) }
    /// ‖δ‖₂ / ‖W_base‖₂ = √(Σδ²) / √(ΣW²); nil when the base's norm is 0 (or not finite).
    public var relativeNorm: Double? {
        guard baseSumSquares > 0, baseSumSquares.isFinite else { return nil }
        return (stats.sumSquares / baseSumSquares).squareRoot()
    }
}

