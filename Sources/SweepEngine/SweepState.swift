import Foundation
import JobModel
import TensorIO

/// What lets `--resume` continue an interrupted sweep: `DIR/.sweep-state`, a first line
/// naming the sweep (everything that decides its bytes and metrics), then one JSON line per
/// baseline and per variant once it is written and evaluated, each fsynced. A resumed sweep
/// skips what is recorded and computes only the other variants. Lines are appended from one
/// thread at a time (the runner's, or the coordinator's as in-place tasks finish).
final class SweepState: @unchecked Sendable {
    struct Line: Codable {
        /// A variant's folder, or nil for a baseline.
        var folder: String?
        var model: String?
        var statistics: NoiseStatistics?
        var metric: Double?
        var error: String?
        var windowLosses: [Double]?
        var signedMetrics: [Double]?
    }

    static let fileName = ".sweep-state"
    /// The state's version: 2 since ε is `Philox.normals` (1 had the Float64 Box–Muller).
    static let version = 2
    /// Infinite or NaN sums (a checkpoint with such weights) are recorded, not refused.
    static let encoder = {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()
    static let decoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()
    let path: String
    private(set) var variants: [String: Line] = [:]
    private(set) var baselines: [String: Line] = [:]
    private let handle: FileHandle

    /// Opens the state of `plan`'s sweep: continues it with `resume` (refusing the state of
    /// another sweep), otherwise starts it empty.
    init(plan: SweepPlan, resume: Bool) throws {
        path = FileSystem.join(plan.spec.outDir, SweepState.fileName)
        let header = "crucible-sweep \(SweepState.version) " + SweepState.fingerprint(plan.spec)
        let existing = resume ? (try? String(contentsOfFile: path, encoding: .utf8)) : nil
        if let existing {
            var lines = existing.split(separator: "\n")
            if let first = lines.first, first.hasPrefix("crucible-sweep "), !first.hasPrefix("crucible-sweep \(SweepState.version) ") {
                throw ProblemList("\(path) belongs to a sweep started by another version of Crucible, whose noise ε differs "
                    + "(docs/sweep.md, \"The perturbation\"): its variants cannot be completed alike; start the sweep again in another --out")
            }
            guard lines.first.map(String.init) == header else {
                throw ProblemList("\(path) belongs to a sweep with other models, σ, seeds, scale, tensors, dtype or eval; "
                    + "resume with the same options, or use another --out")
            }
            lines.removeFirst()
            for text in lines {
                guard let line = try? SweepState.decoder.decode(Line.self, from: Data(text.utf8)) else { continue }
                if let folder = line.folder { variants[folder] = line } else if let model = line.model { baselines[model] = line }
            }
        } else {
            guard FileManager.default.createFile(atPath: path, contents: Data((header + "\n").utf8)) else {
                throw ProblemList("\(path): cannot create the sweep's state file")
            }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Everything that decides a sweep's bytes and metrics (not threads, batching or keep).
    static func fingerprint(_ spec: SweepSpec) -> String {
        var fields = [spec.models.joined(separator: "|"), spec.sigmas.map { "\($0)" }.joined(separator: ","),
                      spec.seeds.map(String.init).joined(separator: ","), spec.scale.rawValue, spec.initStd.map { "\($0)" } ?? "",
                      spec.include.joined(separator: "|"), spec.exclude.joined(separator: "|"), spec.outputDType?.rawValue ?? "",
                      spec.eval ?? ""]
        if let inPlace = spec.inPlace { fields += [inPlace.fingerprint, spec.antithetic ? "antithetic" : ""] }
        let text = fields.joined(separator: "\u{1F}")
        return String(XXHash64.hash(Array(text.utf8)), radix: 16)
    }

    func record(_ result: VariantResult) throws {
        try append(Line(folder: result.variant.folder, statistics: result.statistics, metric: result.metric, error: result.error,
                        windowLosses: result.windowLosses, signedMetrics: result.signedMetrics))
    }

    func record(_ baseline: BaselineResult) throws {
        try append(Line(model: baseline.model, metric: baseline.metric, error: baseline.error, windowLosses: baseline.windowLosses))
    }

    /// The recorded result of `variant`, if it finished before.
    func result(_ variant: SweepVariant, model: String) -> VariantResult? {
        guard let line = variants[variant.folder], line.statistics != nil || line.metric != nil || line.error != nil else { return nil }
        var result = VariantResult(variant: variant, model: model, statistics: line.statistics, metric: line.metric, error: line.error)
        result.windowLosses = line.windowLosses
        result.signedMetrics = line.signedMetrics
        return result
    }

    /// The recorded result of `model`'s baseline, if it was measured before.
    func baseline(_ model: String) -> BaselineResult? {
        guard let line = baselines[model] else { return nil }
        var result = BaselineResult(model: model, metric: line.metric, error: line.error)
        result.windowLosses = line.windowLosses
        return result
    }

    private func append(_ line: Line) throws {
        var data = try SweepState.encoder.encode(line)
        data.append(0x0A)
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }
}
