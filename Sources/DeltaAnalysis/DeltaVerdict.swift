/// What a model's whole-model delta statistics say about dropping its deltas at random
/// (DARE, Yu et al. 2023, arXiv 2311.03099): fine-tuning (SFT) deltas are tiny, typically
/// within 0.002–0.005, and then 90% or even 99% of them can be dropped and the rest rescaled
/// without loss; deltas of continued pre-training are far larger (around 0.03) and DARE stops
/// working. The rule, on the share `s` of finite elements with `|δ| ≤ threshold`
/// (0.005 by default):
///
/// - `unchanged`: every delta is 0;
/// - `notFinite`: no delta is finite (infinite or NaN weights);
/// - `small`: `s ≥ 0.99`: DARE with drop rate p = 0.9 is expected to be safe;
/// - `large`: `s < 0.5` (more than half the deltas exceed the threshold): looks like
///   continued pre-training; DARE/TIES at a high drop rate (low density) is expected to lose
///   quality;
/// - `mixed`: in between: a minority of large deltas; DARE at p = 0.9 is not known to be safe.
public enum DeltaVerdict: String, Sendable {
    case unchanged, notFinite, small, mixed, large

    public static let safeShare = 0.99
    public static let largeShare = 0.5

    public init(_ aggregate: DeltaAggregate) {
        guard let share = aggregate.shareWithin else {
            self = aggregate.nonFinite > 0 ? .notFinite : .unchanged
            return
        }
        guard aggregate.zeros < aggregate.finite else {
            self = .unchanged
            return
        }
        self = share >= DeltaVerdict.safeShare ? .small : share < DeltaVerdict.largeShare ? .large : .mixed
    }

    /// One line for people.
    public func message(threshold: Double, share: Double?) -> String {
        let t = DeltaFormat.number(threshold)
        let beyond = share.map { DeltaFormat.percent(1 - $0) } ?? "?"
        switch self {
        case .unchanged:
            return "identical to the base: no delta to merge"
        case .notFinite:
            return "no finite delta (infinite or NaN weights): check the checkpoints"
        case .small:
            return "deltas within \(t) (\(beyond) beyond): DARE at p = 0.9 is expected to be safe"
        case .mixed:
            return "\(beyond) of deltas beyond \(t): DARE at p = 0.9 is not known to be safe; try a lower drop rate and evaluate"
        case .large:
            return "deltas look like continued pre-training (\(beyond) beyond \(t)): DARE/TIES at a high drop rate (low density) is expected to lose quality"
        }
    }
}
