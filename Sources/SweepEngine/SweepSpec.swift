import Evaluator
import Foundation
import JobModel
import TensorIO

/// A sweep measured by Crucible itself: every baseline and variant is an eval task whose
/// worker perturbs the weights as it reads them and returns the loss (nothing is written
/// unless `keep: all`).
public struct InPlaceEval: Sendable {
    /// The token ids every model is scored on.
    public var tokens: [Int32]
    public var windows: EvalJob.Windows
    /// Where the tokens came from, for the reports (`--eval-text FILE`, ...).
    public var source: String

    public init(tokens: [Int32], windows: EvalJob.Windows, source: String) {
        self.tokens = tokens
        self.windows = windows
        self.source = source
    }

    /// Everything that decides the numbers (not the batch).
    var fingerprint: String {
        let ids = tokens.map(\.littleEndian).withUnsafeBytes { XXHash64.hash($0) }
        return "\(String(ids, radix: 16)) \(tokens.count) \(windows.context) \(windows.stride) \(windows.layerScoreInput)"
    }
}

/// What the noise is measured in: `W' = W + σ · s(W) · ε`.
public enum NoiseScale: String, Sendable, Codable, CaseIterable {
    /// s = the RMS of the tensor being perturbed.
    case relative
    /// s = 1.
    case absolute
    /// s = the initialisation std (`initializer_range` in config.json, or `--init-std`).
    case initialization = "init"
}

/// What happens to a variant folder once it is evaluated.
public enum KeepPolicy: String, Sendable, CaseIterable {
    case all
    /// Delete each variant once evaluated (needs an eval command), or never write it (in place).
    case none
}

/// Everything a sweep needs, from the command line or a YAML file (`SweepSpec.parse`).
public struct SweepSpec: Sendable {
    /// Model folders (or .safetensors files), in series order.
    public var models: [String] = []
    /// The output folder (created; must be empty or absent).
    public var outDir: String = ""
    public var sigmas: [Double] = []
    public var seeds: [UInt64] = []
    public var scale: NoiseScale = .relative
    /// The initialisation std for `scale: init`; nil reads `initializer_range` from each model's config.json.
    public var initStd: Double?
    /// Regular expressions (searched anywhere in the tensor name): a tensor is perturbed when it
    /// matches one of `include` (or `include` is empty) and none of `exclude`.
    public var include: [String] = []
    public var exclude: [String] = []
    /// The shell command run on each finished variant (`{model}`, `{sigma}`, `{seed}`, `{base}` substituted).
    public var eval: String?
    /// Evaluate in place with Crucible's forward pass instead of an eval command.
    public var inPlace: InPlaceEval?
    /// In place: evaluate W − σsε beside W + σsε for every seed and report their mean
    /// (the first-order term cancels).
    public var antithetic = false
    /// Seconds after which an eval is killed and recorded as failed (nil: no limit).
    public var evalTimeout: Double?
    public var keep: KeepPolicy = .all
    /// Variant folders written per batch (nil: all with `keep: all`, 2 with `keep: none`).
    public var maxPending: Int?
    /// Dtype of the perturbed tensors (nil: each tensor's own).
    public var outputDType: DType?
    public var shardBudget: UInt64 = CheckpointWriter.defaultShardBudget
    public var copyTokenizer = true
    public var threads = 1
    /// Continue an interrupted sweep in `outDir`: skip the variants its state file records.
    public var resume = false

    public init() {}

    /// Variants per batch: `maxPending`, else every variant (`keep: all`) or 2 (`keep: none`).
    public func batchSize(variants: Int) -> Int {
        max(1, maxPending ?? (keep == .all ? max(variants, 1) : 2))
    }

    /// Parses a comma-separated list of numbers (`1e-4,3e-4,1e-3`).
    public static func parseSigmas(_ text: String) throws(ProblemList) -> [Double] {
        try listItems(text).map { item throws(ProblemList) in
            guard let value = sigma(item) else { throw ProblemList("--sigmas: \(notASigma(item)) (example: --sigmas 1e-4,3e-4,1e-3)") }
            return value
        }
    }

    /// Parses a comma-separated list of seeds (`0,1,2`).
    public static func parseSeeds(_ text: String) throws(ProblemList) -> [UInt64] {
        try listItems(text).map { item throws(ProblemList) in
            guard let value = seed(item) else { throw ProblemList("--seeds: \(notASeed(item)) (example: --seeds 0,1,2)") }
            return value
        }
    }

    /// The trimmed items of a comma-separated list, empty ones included (`1e-3,,1e-2` has an
    /// empty item, which no item parser accepts: a stray comma is a mistake, on the command
    /// line and in YAML alike).
    static func listItems(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// One noise level: a finite number (the plan checks the range).
    static func sigma(_ item: String) -> Double? { Double(item).flatMap { $0.isFinite ? $0 : nil } }

    /// One seed: a non-negative integer.
    static func seed(_ item: String) -> UInt64? { UInt64(item) }

    static func notASigma(_ item: String) -> String { item.isEmpty ? "an empty item (a stray comma?)" : "\"\(item)\" is not a number" }
    static func notASeed(_ item: String) -> String {
        item.isEmpty ? "an empty item (a stray comma?)" : "\"\(item)\" is not a non-negative integer"
    }
}
