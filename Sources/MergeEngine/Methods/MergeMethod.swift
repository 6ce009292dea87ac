import Foundation

/// One parameter a merge method accepts, as declared by the method. Config validation,
/// `crucible methods` and docs/methods.md are all generated from these declarations.
public struct ParameterSpec: Sendable {
    public enum Scope: String, Sendable {
        /// One value per tensor (top-level or slice `parameters:`), e.g. slerp's `t`.
        case global
        /// One value per input model (`models[].parameters`), e.g. `weight`, `density`.
        case perModel = "per-model"
    }

    public enum Kind: String, Sendable {
        case number, bool
    }

    public let name: String
    public let scope: Scope
    public let kind: Kind
    /// nil means the parameter is required.
    public let defaultValue: ResolvedValue?
    public let help: String
    /// The numbers the method computes with (every value of a number parameter must also be
    /// finite); nil: any finite number. Checked when the plan is made.
    public let valid: NumberRange?

    public init(_ name: String, _ scope: Scope, _ kind: Kind, default defaultValue: ResolvedValue?, _ help: String,
                valid: NumberRange? = nil) {
        self.name = name
        self.scope = scope
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
        self.valid = valid
    }

    public var isRequired: Bool { defaultValue == nil }
}

/// An interval of valid values for a number parameter, such as `(0, 1]`.
public struct NumberRange: Sendable, Equatable, CustomStringConvertible {
    public let lower: Double
    public let lowerIncluded: Bool
    public let upper: Double
    public let upperIncluded: Bool

    public init(_ lower: Double, included lowerIncluded: Bool = true, to upper: Double, included upperIncluded: Bool = true) {
        self.lower = lower
        self.lowerIncluded = lowerIncluded
        self.upper = upper
        self.upperIncluded = upperIncluded
    }

    /// `[0, 1]`.
    public static let unit = NumberRange(0, to: 1)
    /// `(0, 1]`: a share that keeps something.
    public static let positiveShare = NumberRange(0, included: false, to: 1)

    public func contains(_ x: Double) -> Bool {
        (lowerIncluded ? x >= lower : x > lower) && (upperIncluded ? x <= upper : x < upper)
    }

    public var description: String {
        func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }
        return (lowerIncluded ? "[" : "(") + number(lower) + ", " + number(upper) + (upperIncluded ? "]" : ")")
    }
}

/// How a method uses `base_model`.
public enum BaseModelUse: String, Sendable {
    case required, optional
    /// The method treats every model alike; a base model, if listed among the models, is an ordinary input.
    case unused
}

/// A merge method: what it accepts (declarations) and how it computes one output tensor.
/// Methods are small value types registered in `MethodRegistry`.
public protocol MergeMethod: Sendable {
    /// The name used in `merge_method:`.
    var name: String { get }
    /// One line for `crucible methods`.
    var summary: String { get }
    var parameters: [ParameterSpec] { get }
    var baseModel: BaseModelUse { get }
    /// How many non-base input models the method accepts per tensor.
    var inputCount: ClosedRange<Int> { get }
    /// True when the method reads randomness (its output depends on `--random-seed`).
    var isRandomized: Bool { get }
    /// True when mergekit's implementation mixes a float32 tensor into its result, so that it
    /// writes float32 whatever `dtype` is (without `out_dtype`); Crucible writes the same.
    var writesFloat32: Bool { get }
    /// What is wrong with one input's resolved per-model parameters taken together (a rule
    /// that no single value breaks, such as della's density ± epsilon), or nil. The planner
    /// asks for every input of every tensor, so a merge never fails on it part-way.
    func problem(perModel parameters: [String: ResolvedValue]) -> String?
    /// Computes the output tensor of `job`, writing it through `job.apply`.
    func merge(_ job: TensorJob) throws
}

extension MergeMethod {
    public var isRandomized: Bool { false }
    public var writesFloat32: Bool { false }
    public var inputCount: ClosedRange<Int> { 1...Int.max }
    public func problem(perModel parameters: [String: ResolvedValue]) -> String? { nil }

    /// A method without a base model that still merges a `base_model` left out of `models:`
    /// as one more input, as mergekit does: it asks nothing of that model (no required
    /// per-model parameter) and takes more than one input.
    public var mergesUnlistedBase: Bool {
        baseModel == .unused && inputCount.upperBound > 1
            && !parameters.contains { $0.scope == .perModel && $0.defaultValue == nil }
    }

    /// A readable statement of the input contract ("a base model and exactly 1 other model").
    public var inputContract: String {
        let others: String
        switch (inputCount.lowerBound, inputCount.upperBound) {
        case (let a, let b) where a == b: others = "exactly \(a) other model\(a == 1 ? "" : "s")"
        case (let a, Int.max): others = "at least \(a) other model\(a == 1 ? "" : "s")"
        case (let a, let b): others = "\(a) to \(b) other models"
        }
        switch baseModel {
        case .required: return "a base_model and " + others
        case .optional: return "an optional base_model and " + others
        case .unused: return others.replacingOccurrences(of: "other ", with: "")
        }
    }
}
