import ConfigYAML
import Foundation
import JobModel
import TensorIO
import Yams

extension SweepSpec {
    static let yamlKeys = ["models", "out", "sigmas", "seeds", "scale", "init_std", "include", "exclude", "eval",
                           "eval_timeout", "keep", "max_pending", "out_dtype", "dtype", "out_shard_size", "copy_tokenizer"]

    /// The text of the sweep config at `path`, read as a merge config is
    /// (`FileSystem.readText`: a regular file of at most 16 MiB, in UTF-8).
    public static func readConfigFile(_ path: String) throws(SafeTensorsError) -> String {
        try FileSystem.readText(path, limit: BoundedYAML.maxFileBytes, what: "a config")
    }

    /// Reads a sweep from YAML (the same options as the command line, with underscores:
    /// `models`, `out`, `sigmas`, `seeds`, `scale`, `init_std`, `include`, `exclude`, `eval`,
    /// `eval_timeout`, `keep`, `max_pending`, `out_dtype` (or `dtype`, as in mergekit configs),
    /// `out_shard_size`, `copy_tokenizer`).
    /// Every problem is reported at once; `source` names the file.
    public static func parse(yaml text: String, source: String = "sweep config") throws(ProblemList) -> SweepSpec {
        var problems: [String] = []
        func problem(_ key: String, _ message: String) { problems.append("\(source): \(key): \(message)") }

        let root: Node
        do {
            guard let node = try BoundedYAML.compose(text) else { throw ProblemList("\(source): the config is empty") }
            root = node
        } catch let error as ProblemList {
            throw error
        } catch let error as BoundedYAML.ExpansionError {
            throw ProblemList("\(source): \(error)")
        } catch {
            throw ProblemList("\(source): not valid YAML: \(error)")
        }
        guard let mapping = root.mapping else {
            throw ProblemList("\(source): the config must be a mapping of keys such as models, sigmas and seeds")
        }

        var spec = SweepSpec()
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "models":
                guard let list = strings(value, allowMappingKey: "model") else {
                    problem(key, "must be a list of model paths"); continue
                }
                if let tooLong = list.lazy.compactMap(FileSystem.pathTooLong).first { problem(key, tooLong); continue }
                spec.models = list
            case "out":
                guard let text = scalar(value) else { problem(key, "must be a folder path"); continue }
                if let tooLong = FileSystem.pathTooLong(text) { problem(key, tooLong); continue }
                spec.outDir = text
            case "sigmas":
                guard let list = strings(value, split: true) else { problem(key, "must be a list of numbers"); continue }
                var sigmas: [Double] = []
                for item in list {
                    guard let sigma = sigma(item) else { problem(key, notASigma(item)); continue }
                    sigmas.append(sigma)
                }
                spec.sigmas = sigmas
            case "seeds":
                guard let list = strings(value, split: true) else { problem(key, "must be a list of integers"); continue }
                var seeds: [UInt64] = []
                for item in list {
                    guard let seed = seed(item) else { problem(key, notASeed(item)); continue }
                    seeds.append(seed)
                }
                spec.seeds = seeds
            case "scale":
                guard let text = scalar(value), let scale = NoiseScale(rawValue: text) else {
                    problem(key, "must be one of relative, absolute, init"); continue
                }
                spec.scale = scale
            case "init_std":
                guard let text = scalar(value), let std = Double(text), std.isFinite, std > 0 else {
                    problem(key, "must be a positive number"); continue
                }
                spec.initStd = std
            case "include", "exclude":
                guard let list = strings(value) else { problem(key, "must be a regular expression or a list of them"); continue }
                if key == "include" { spec.include = list } else { spec.exclude = list }
            case "eval":
                guard let text = scalar(value), !text.isEmpty else { problem(key, "must be a shell command"); continue }
                spec.eval = text
            case "eval_timeout":
                guard let text = scalar(value), let seconds = Double(text), seconds > 0 else {
                    problem(key, "must be a number of seconds"); continue
                }
                spec.evalTimeout = seconds
            case "keep":
                guard let text = scalar(value), let keep = KeepPolicy(rawValue: text) else { problem(key, "must be all or none"); continue }
                spec.keep = keep
            case "max_pending":
                guard let text = scalar(value), let n = Int(text), n >= 1 else { problem(key, "must be an integer ≥ 1"); continue }
                spec.maxPending = n
            case "out_dtype", "dtype":
                guard let text = scalar(value), let dtype = DType(torchName: text) else {
                    problem(key, "must be one of float32, bfloat16, float16, float64"); continue
                }
                spec.outputDType = dtype
            case "out_shard_size":
                guard let text = scalar(value), let bytes = ByteCount.parse(text) else { problem(key, "must be a size such as 5B or 500M"); continue }
                spec.shardBudget = bytes
            case "copy_tokenizer":
                guard let flag = value.bool else { problem(key, "must be true or false"); continue }
                spec.copyTokenizer = flag
            default:
                problem(key, "unknown key (known: \(yamlKeys.joined(separator: ", ")))")
            }
        }
        guard problems.isEmpty else { throw ProblemList(problems) }
        return spec
    }

    /// A scalar's text; nil for null, sequences and mappings.
    private static func scalar(_ node: Node) -> String? {
        guard let scalar = node.scalar, node.tag.rawValue != Tag.Name.null.rawValue else { return nil }
        return scalar.string
    }

    /// A list of scalars. A single scalar counts as a one-item list, or with `split` as a
    /// comma-separated list, as on the command line. With `allowMappingKey`, items may be `{key: value}`.
    private static func strings(_ node: Node, split: Bool = false, allowMappingKey: String? = nil) -> [String]? {
        if let text = scalar(node) {
            return split ? listItems(text) : [text]
        }
        guard let items = node.sequence else { return nil }
        var result: [String] = []
        for item in items {
            if let text = scalar(item) {
                result.append(text)
            } else if let key = allowMappingKey, let mapping = item.mapping, let value = mapping[key].flatMap(scalar) {
                result.append(value)
            } else {
                return nil
            }
        }
        return result
    }
}
