import Foundation
import JobModel
import TensorIO

/// One perturbed copy of one model: (model, σ, seed).
public struct SweepVariant: Sendable, Equatable {
    /// Position in the sweep's variant order (model, then seed, then σ).
    public let index: Int
    /// Index into the plan's models.
    public let model: Int
    public let sigma: Double
    public let seed: UInt64
    /// The folder, relative to the sweep's output folder.
    public let folder: String
}

/// A tensor of a model as the sweep treats it.
public struct SweepTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    /// Perturbed (selected by include/exclude and floating-point), or copied byte for byte.
    public let perturb: Bool
    /// The dtype written: `--out-dtype` for perturbed tensors (default: the input's), the input's for copies.
    public let outputDType: DType

    public var elementCount: Int { shape.reduce(1, *) }
    public var outputBytes: Int { outputDType.byteCount(elements: UInt64(elementCount)).map(Int.init) ?? 0 }
}

/// A validated sweep: the models opened (headers only), which tensors are perturbed, every
/// variant and how variants are grouped into batches (one job each).
public final class SweepPlan: Sendable {
    public let spec: SweepSpec
    public let checkpoints: [Checkpoint]
    /// Per model, its tensors in checkpoint order.
    public let tensors: [[SweepTensor]]
    /// Per model, the fixed noise scale s (1 for absolute, the init std for init); nil for
    /// relative, where each task measures its tensor's RMS.
    public let fixedScales: [Double?]
    public let variants: [SweepVariant]
    /// Per model, the unique stem its variant folders and eval logs are named by.
    public let stems: [String]
    /// Variant indices per batch of variant folders written, in order (none when variants are
    /// evaluated in place and not kept).
    public let batches: [[Int]]

    /// Opens the models and checks everything; all problems are reported together.
    /// `open` opens each of `spec.models` (by default, as a local folder or file).
    public init(_ spec: SweepSpec, open: (String) throws -> Checkpoint = { try Checkpoint(path: $0) }) throws(ProblemList) {
        var problems: [String] = []
        if spec.models.isEmpty { problems.append("no models given") }
        if spec.outDir.isEmpty { problems.append("no output folder given (--out DIR)") }
        if spec.sigmas.isEmpty { problems.append("no noise levels given (--sigmas 1e-4,3e-4,1e-3)") }
        if spec.seeds.isEmpty { problems.append("no seeds given (--seeds 0,1,2)") }
        for sigma in spec.sigmas where !(sigma >= 0) || !sigma.isFinite {
            problems.append("σ = \(sigma): noise levels must be finite and ≥ 0")
        }
        if Set(spec.sigmas).count != spec.sigmas.count { problems.append("--sigmas lists a value twice") }
        if Set(spec.seeds).count != spec.seeds.count { problems.append("--seeds lists a value twice") }
        if let dtype = spec.outputDType, !dtype.isWritableFromFloat32 {
            problems.append("--out-dtype \(dtype.rawValue) cannot be written; use float32, bfloat16, float16 or float64")
        }
        if spec.keep == .none && spec.eval == nil && spec.inPlace == nil {
            problems.append("--keep none deletes every variant once evaluated, so it needs --eval CMD or --eval-text FILE")
        }
        if spec.eval != nil && spec.inPlace != nil { problems.append("give either --eval CMD or --eval-text/--eval-tokens FILE, not both") }
        if spec.antithetic && spec.inPlace == nil { problems.append("--antithetic needs --eval-text or --eval-tokens (variants evaluated in place)") }
        if let n = spec.maxPending, n < 1 { problems.append("--max-pending must be at least 1") }
        if let t = spec.evalTimeout, !(t > 0) { problems.append("--eval-timeout must be a positive number of seconds") }
        if let s = spec.initStd, !(s > 0) || !s.isFinite { problems.append("--init-std must be a positive number") }
        if spec.threads < 1 { problems.append("--threads must be at least 1") }
        if !spec.outDir.isEmpty && FileSystem.exists(spec.outDir) {
            if !FileSystem.isDirectory(spec.outDir) {
                problems.append("\(spec.outDir): the output path exists and is not a folder")
            } else if !spec.resume, let contents = try? FileSystem.contents(of: spec.outDir), !contents.isEmpty {
                problems.append("\(spec.outDir): the output folder is not empty; remove it, choose another, or continue an interrupted sweep with --resume")
            }
        }

        func compile(_ patterns: [String], _ flag: String) -> [Regex<AnyRegexOutput>] {
            patterns.compactMap { pattern in
                do { return try Regex(pattern) } catch {
                    problems.append("\(flag) \"\(pattern)\" is not a valid regular expression: \(error)")
                    return nil
                }
            }
        }
        let include = compile(spec.include, "--include")
        let exclude = compile(spec.exclude, "--exclude")
        var includeUsed = [Bool](repeating: false, count: include.count)

        var checkpoints: [Checkpoint] = []
        var tensors: [[SweepTensor]] = []
        var scales: [Double?] = []
        for path in spec.models {
            let checkpoint: Checkpoint
            do { checkpoint = try open(path) } catch {
                problems.append("\(error)")
                continue
            }
            var list: [SweepTensor] = []
            for name in checkpoint.tensorNames {
                guard let info = checkpoint.info(name) else { continue }
                var selected = include.isEmpty
                for (i, regex) in include.enumerated() where name.contains(regex) {
                    selected = true
                    includeUsed[i] = true
                }
                if selected && exclude.contains(where: { name.contains($0) }) { selected = false }
                let perturb = selected && info.dtype.isFloatingPoint
                var output = info.dtype
                if perturb {
                    output = spec.outputDType ?? info.dtype
                    if !output.isWritableFromFloat32 {
                        problems.append("\(path): \(name) is \(info.dtype.rawValue), which cannot hold the perturbed values; "
                                        + "give --out-dtype (e.g. bfloat16) or --exclude it")
                    }
                }
                list.append(SweepTensor(name: name, shape: info.shape, perturb: perturb, outputDType: output))
            }
            if !list.contains(where: \.perturb) {
                problems.append("\(path): no tensor is selected for perturbation (check --include/--exclude)")
            }
            switch spec.scale {
            case .relative:
                scales.append(nil)
            case .absolute:
                scales.append(1)
            case .initialization:
                if let std = spec.initStd {
                    scales.append(std)
                } else if let std = checkpoint.config?["initializer_range"]?.doubleValue, std > 0, std.isFinite {
                    scales.append(std)
                } else {
                    problems.append("\(path): --scale init needs the initialisation std: config.json has no initializer_range; give --init-std")
                    scales.append(nil)
                }
            }
            checkpoints.append(checkpoint)
            tensors.append(list)
        }
        for (i, used) in includeUsed.enumerated() where !used && checkpoints.count == spec.models.count {
            problems.append("--include \"\(spec.include[i])\" matches no tensor of any model")
        }
        guard problems.isEmpty else { throw ProblemList(problems) }

        stems = SweepPlan.stems(spec.models)
        var variants: [SweepVariant] = []
        for model in spec.models.indices {
            for seed in spec.seeds {
                for sigma in spec.sigmas {
                    variants.append(SweepVariant(index: variants.count, model: model, sigma: sigma, seed: seed,
                                                 folder: "\(stems[model])_sigma\(SweepPlan.format(sigma))_seed\(seed)"))
                }
            }
        }
        let size = spec.batchSize(variants: variants.count)
        // Evaluated in place, variants are written only when they are kept.
        let written = spec.inPlace == nil || spec.keep == .all
        self.spec = spec
        self.checkpoints = checkpoints
        self.tensors = tensors
        self.fixedScales = scales
        self.variants = variants
        self.batches = written ? stride(from: 0, to: variants.count, by: size).map { Array($0..<min(variants.count, $0 + size)) } : []
    }

    /// Tasks (model × tensor) over all batches, for progress.
    public var taskCount: Int {
        batches.reduce(0) { total, batch in total + Set(batch.map { variants[$0].model }).reduce(0) { $0 + tensors[$1].count } }
    }

    /// Bytes the batch jobs write over the whole sweep: every variant's tensors, plus the noise
    /// statistics records (what the jobs' progress counts).
    public var outputBytes: Int {
        var total = 0
        for batch in batches {
            for index in batch {
                let model = variants[index].model
                total += tensors[model].reduce(0) { $0 + $1.outputBytes + ($1.perturb ? NoiseStatistics.size : 0) }
            }
        }
        return total
    }

    /// The largest number of bytes of variant folders on disk at once (one batch's worth, or
    /// every variant with `keep: all`).
    public var peakVariantBytes: Int {
        func bytes(_ index: Int) -> Int { tensors[variants[index].model].reduce(0) { $0 + $1.outputBytes } }
        if spec.keep == .all { return variants.indices.reduce(0) { $0 + bytes($1) } }
        return batches.map { $0.reduce(0) { $0 + bytes($1) } }.max() ?? 0
    }

    /// The variant's folder path (the output folder joined with `variant.folder`).
    public func path(of variant: SweepVariant) -> String { FileSystem.join(spec.outDir, variant.folder) }

    /// A name for each model's variant folders: the model folder's (or file's) name, made unique.
    static func stems(_ paths: [String]) -> [String] {
        var stems: [String] = []
        for path in paths {
            var trimmed = path
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            var stem = String(trimmed.split(separator: "/").last ?? "model")
            if stem.hasSuffix(".safetensors") { stem.removeLast(".safetensors".count) }
            if stem.isEmpty || stem == "." || stem == ".." { stem = "model" }
            stem = String(stem.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
            var unique = stem
            var n = 2
            while stems.contains(unique) {
                unique = "\(stem)-\(n)"
                n += 1
            }
            stems.append(unique)
        }
        return stems
    }

    /// The shortest scientific form that reads back as `x`: `1e-4`, `3e-4`, `2.5e-3`, `0`.
    public static func format(_ x: Double) -> String {
        guard x != 0 else { return "0" }
        guard x.isFinite else { return "\(x)" }
        for digits in 0...17 {
            let text = String(format: "%.\(digits)e", x)
            guard Double(text) == x || digits == 17 else { continue }
            // "1.50e-03" → mantissa "1.50", exponent "-03" → "1.5e-3".
            let parts = text.split(separator: "e")
            let mantissa = String(parts[0])
            var exponent = String(parts[1])
            var sign = ""
            if exponent.hasPrefix("-") || exponent.hasPrefix("+") {
                sign = exponent.hasPrefix("-") ? "-" : ""
                exponent.removeFirst()
            }
            while exponent.count > 1 && exponent.hasPrefix("0") { exponent.removeFirst() }
            return "\(mantissa)e\(sign)\(exponent)"
        }
        return "\(x)"
    }
}
