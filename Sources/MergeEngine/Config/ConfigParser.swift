import ConfigYAML
import JobModel
import TensorIO
import Yams

/// Reads a mergekit YAML config into a `MergeConfig`, collecting every structural problem
/// (unknown keys, wrong types, bad layer ranges) rather than stopping at the first.
/// Method-specific checks (parameters, input counts) happen in `ConfigValidator`.
public enum ConfigParser {
    static let topLevelKeys = ["merge_method", "slices", "models", "modules", "base_model", "parameters", "dtype",
                               "out_dtype", "tokenizer_source", "tokenizer", "chat_template", "name"]
    static let sourceKeys = ["model", "layer_range", "parameters"]
    static let modelKeys = ["model", "parameters"]
    static let sliceKeys = ["sources", "parameters"]
    static let moduleKeys = ["models", "slices", "parameters"]

    /// The largest config file read (mergekit configs are a few kilobytes).
    public static let maxFileBytes = BoundedYAML.maxFileBytes

    /// The text of the config file at `path`: a regular file (a FIFO or a device is refused,
    /// saying what it is) of at most `maxFileBytes`, in UTF-8.
    public static func readFile(_ path: String) throws(SafeTensorsError) -> String {
        try FileSystem.readText(path, limit: maxFileBytes, what: "a config")
    }

    /// Parses `text`, a config of one document; `source` names the file in error messages.
    public static func parse(_ text: String, source: String = "config") throws(ProblemList) -> MergeConfig {
        let documents = try compose(text, source: source)
        guard documents.count == 1 else {
            throw ProblemList(source: source, problems: [.init("", "\(documents.count) YAML documents: a multi-stage config is run by `crucible merge` (docs/methods.md)")])
        }
        return try parse(documents[0], text: text, source: source)
    }

    /// Parses every document of `text` (mergekit-multi's format: documents separated by `---`,
    /// each a config, with `name:` on those later ones use as models). A document's `text` is
    /// the document alone. All problems of all documents are reported together.
    public static func parseDocuments(_ text: String, source: String = "config") throws(ProblemList) -> [MergeConfig] {
        let documents = try compose(text, source: source)
        var configs: [MergeConfig] = []
        var problems: [ProblemList.Problem] = []
        for (index, document) in documents.enumerated() {
            let documentText = documents.count == 1 ? text : ((try? Yams.serialize(node: document)) ?? text)
            do {
                configs.append(try parse(document, text: documentText, source: source))
            } catch {
                let prefix = documents.count == 1 ? "" : "document \(index + 1)"
                problems += error.problems.map { .init(prefix.isEmpty ? $0.location : "\(prefix): \($0.location)", $0.message) }
            }
        }
        if !problems.isEmpty { throw ProblemList(source: source, problems: problems) }
        return configs
    }

    /// The documents of `text`, composed with bounded alias expansion.
    private static func compose(_ text: String, source: String) throws(ProblemList) -> [Node] {
        let documents: [Node]
        do {
            documents = try BoundedYAML.composeAll(text)
        } catch let error as BoundedYAML.ExpansionError {
            throw ProblemList(source: source, problems: [.init("", "\(error)")])
        } catch {
            throw ProblemList(source: source, problems: [.init("", "not valid YAML: \(error)")])
        }
        guard !documents.isEmpty else { throw ProblemList(source: source, problems: [.init("", "the config is empty")]) }
        return documents
    }

    /// Parses one document.
    private static func parse(_ root: Node, text: String, source: String) throws(ProblemList) -> MergeConfig {
        var problems: [ProblemList.Problem] = []
        func problem(_ location: String, _ message: String) { problems.append(.init(location, message)) }
        guard let mapping = root.mapping else {
            throw ProblemList(source: source, problems: [.init("", "the config must be a mapping of keys such as merge_method and models")])
        }

        var config = MergeConfig(mergeMethod: "", text: text)
        var sawMethod = false
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "name":
                if let s = scalarString(value), !s.isEmpty { config.name = s } else { problem(key, "must be a name") }
            case "merge_method":
                if let s = scalarString(value) { config.mergeMethod = s; sawMethod = true } else { problem(key, "must be a method name") }
            case "base_model":
                if isNull(value) { break }
                if let s = modelName(value, at: key, problem) { config.baseModel = s }
            case "dtype":
                if let s = scalarString(value) { config.dtype = s } else { problem(key, "must be a dtype name such as bfloat16") }
            case "out_dtype":
                if let s = scalarString(value) { config.outDtype = s } else { problem(key, "must be a dtype name such as bfloat16") }
            case "chat_template":
                if isNull(value) { break }
                guard let s = scalarString(value) else { problem(key, "must be a string"); break }
                if let why = ChatTemplate.problem(s) { problem(key, why) } else { config.chatTemplate = s }
            case "tokenizer_source":
                if isNull(value) { break }
                if config.tokenizer != nil { problem(key, "give either tokenizer_source or a tokenizer: section, not both"); break }
                if let source = tokenizerSource(value, at: key, problem) { config.tokenizer = TokenizerSettings(source: source) }
            case "tokenizer":
                if isNull(value) { break }
                if config.tokenizer != nil { problem(key, "give either tokenizer_source or a tokenizer: section, not both"); break }
                config.tokenizer = tokenizerSettings(value, at: key, problem)
            case "parameters":
                config.parameters = parameterSet(value, at: key, problem)
            case "models":
                config.models = models(value, at: key, problem)
            case "slices":
                config.slices = slices(value, at: key, problem)
            case "modules":
                guard let entries = value.mapping, !entries.isEmpty else { problem(key, "must be a mapping of module names to {models | slices, parameters}"); break }
                config.modules = entries.compactMap { name, body in module(name.string ?? "?", body, at: "\(key).\(name.string ?? "?")", problem) }
            default:
                problem(key, "unknown key; allowed: \(topLevelKeys.joined(separator: ", "))")
            }
        }
        if !sawMethod { problem("merge_method", "missing; name one of the methods listed by `crucible methods`") }
        let forms = [config.models != nil, config.slices != nil, config.modules != nil].filter { $0 }.count
        if forms != 1 {
            problem(forms == 0 ? "models" : "slices", "a config needs exactly one of `models:`, `slices:` or `modules:`")
        }
        if !problems.isEmpty { throw ProblemList(source: source, problems: problems) }
        return config
    }

    /// The resolved YAML tag of a node (`tag:yaml.org,2002:int`, ...).
    private static func kind(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.rawValue) }

    private static func isNull(_ node: Node) -> Bool { node.scalar != nil && kind(node) == .null }

    private static func scalarString(_ node: Node) -> String? {
        guard let scalar = node.scalar, kind(node) != .null else { return nil }
        return scalar.string
    }

    private static func modelName(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> String? {
        guard let name = scalarString(node), !name.isEmpty else { problem(location, "must be a model path"); return nil }
        if let tooLong = FileSystem.pathTooLong(name) { problem(location, tooLong); return nil }
        return name
    }

    /// `union`, `base` or a model path.
    private static func tokenizerSource(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> TokenizerSettings.Source? {
        guard let s = scalarString(node), !s.isEmpty else { problem(location, "must be \"union\", \"base\" or a model path"); return nil }
        switch s {
        case "union": return .union
        case "base": return .base
        default: return modelName(node, at: location, problem).map { .model($0) }
        }
    }

    /// The `tokenizer:` section: `source` (default union), `tokens` and `pad_to_multiple_of`.
    private static func tokenizerSettings(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> TokenizerSettings? {
        guard let mapping = node.mapping else { problem(location, "must be {source: ..., tokens: {...}, pad_to_multiple_of: N}"); return nil }
        var settings = TokenizerSettings(source: .union)
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?", at = "\(location).\(key)"
            switch key {
            case "source":
                if let source = tokenizerSource(value, at: at, problem) { settings.source = source }
            case "pad_to_multiple_of":
                if isNull(value) { break }
                if let n = scalarString(value).flatMap({ Int($0) }), n > 0 { settings.padToMultipleOf = n } else { problem(at, "must be a positive whole number") }
            case "tokens":
                if isNull(value) { break }
                guard let tokens = value.mapping else { problem(at, "must map tokens to {source: ..., force: true|false}"); break }
                for (tokenNode, entry) in tokens {
                    let token = tokenNode.string ?? "?"
                    if let setting = tokenSetting(token, entry, at: "\(at).\(token)", problem) { settings.tokens.append(setting) }
                }
            default:
                problem(at, "unknown key; allowed: source, tokens, pad_to_multiple_of")
            }
        }
        return settings
    }

    /// One entry of `tokenizer.tokens`: `{source: MODEL | {kind: model_token, model, token_id | token} | {kind: zero}, force}`.
    private static func tokenSetting(_ token: String, _ node: Node, at location: String, _ problem: (String, String) -> Void) -> TokenizerSettings.Token? {
        guard let mapping = node.mapping else { problem(location, "must be {source: ..., force: true|false}"); return nil }
        var source: TokenizerSettings.EmbeddingSource?
        var force = false
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?", at = "\(location).\(key)"
            switch key {
            case "force":
                guard let flag = scalarString(value), let b = Bool(flag.lowercased()) else { problem(at, "must be true or false"); break }
                force = b
            case "source":
                if scalarString(value) != nil {
                    source = modelName(value, at: at, problem).map { .model($0) }
                    break
                }
                guard let fields = value.mapping else { problem(at, "must be a model path, {kind: model_token, ...} or {kind: zero}"); break }
                var values: [String: Node] = [:]
                for (k, v) in fields { values[k.string ?? "?"] = v }
                switch values["kind"].flatMap(scalarString) {
                case "zero":
                    source = .zero
                case "model_token":
                    let model = values["model"].flatMap { modelName($0, at: at + ".model", problem) }
                    let id = values["token_id"].flatMap(scalarString).flatMap { Int($0) }
                    let token = values["token"].flatMap(scalarString)
                    if values["token_id"] != nil && id == nil { problem(at + ".token_id", "must be a whole number") }
                    if (id == nil) == (token == nil) { problem(at, "give exactly one of token_id and token") }
                    if let model, (id == nil) != (token == nil) { source = .modelToken(model: model, id: id, token: token) }
                default:
                    problem(at + ".kind", "must be model_token or zero")
                }
            default:
                problem(at, "unknown key; allowed: source, force")
            }
        }
        guard let source else {
            if !mapping.keys.contains(where: { $0.string == "source" }) { problem(location, "needs a source") }
            return nil
        }
        return TokenizerSettings.Token(token: token, source: source, force: force)
    }

    /// `models:` (at the top level or in a module): a non-empty list of {model, parameters}.
    private static func models(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> [MergeConfig.Source]? {
        guard let items = node.sequence else { problem(location, "must be a list of {model, parameters}"); return nil }
        if items.isEmpty { problem(location, "the list is empty") }
        return items.enumerated().compactMap { i, item in parseSource(item, at: "\(location)[\(i)]", allowed: modelKeys, problem) }
    }

    /// `slices:` (at the top level or in a module): a non-empty list of {sources, parameters}.
    private static func slices(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> [MergeConfig.Slice]? {
        guard let items = node.sequence else { problem(location, "must be a list of {sources: [...]}"); return nil }
        if items.isEmpty { problem(location, "the list is empty") }
        return items.enumerated().compactMap { i, item in slice(item, at: "\(location)[\(i)]", problem) }
    }

    /// One entry of `modules:`: exactly one of `models:` and `slices:`, and `parameters:`.
    private static func module(_ name: String, _ node: Node, at location: String, _ problem: (String, String) -> Void) -> MergeConfig.Module? {
        guard let mapping = node.mapping else { problem(location, "must be {models | slices, parameters}"); return nil }
        var module = MergeConfig.Module(name: name)
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "models": module.models = models(value, at: "\(location).models", problem)
            case "slices": module.slices = slices(value, at: "\(location).slices", problem)
            case "parameters": module.parameters = parameterSet(value, at: "\(location).parameters", problem)
            default: problem("\(location).\(key)", "unknown key; allowed: \(moduleKeys.joined(separator: ", "))")
            }
        }
        if (module.models == nil) == (module.slices == nil) {
            problem(location, "a module needs exactly one of `models:` and `slices:`")
            return nil
        }
        return module
    }

    private static func parseSource(_ node: Node, at location: String, allowed: [String],
                               _ problem: (String, String) -> Void) -> MergeConfig.Source? {
        if let name = scalarString(node) {
            if let tooLong = FileSystem.pathTooLong(name) { problem(location, tooLong); return nil }
            return MergeConfig.Source(model: name)
        }
        guard let mapping = node.mapping else { problem(location, "must be {model: PATH, parameters: {...}}"); return nil }
        var result = MergeConfig.Source(model: "")
        var hasModel = false
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "model":
                // A bad name is reported by modelName; "missing" would be wrong too.
                hasModel = true
                if let name = modelName(value, at: "\(location).model", problem) { result.model = name }
            case "parameters" where allowed.contains("parameters"):
                result.parameters = parameterSet(value, at: "\(location).parameters", problem)
            case "layer_range" where allowed.contains("layer_range"):
                let bounds = value.sequence?.compactMap { kind($0) == .int ? $0.int : nil } ?? []
                guard bounds.count == 2, value.sequence?.count == 2 else {
                    problem("\(location).layer_range", "must be two integers [start, end]"); continue
                }
                guard bounds[0] >= 0, bounds[1] > bounds[0] else {
                    problem("\(location).layer_range", "[\(bounds[0]), \(bounds[1])] is empty or negative; need 0 <= start < end"); continue
                }
                result.layerRange = bounds[0]..<bounds[1]
            default:
                problem("\(location).\(key)", "unknown key; allowed: \(allowed.joined(separator: ", "))")
            }
        }
        if !hasModel { problem(location, "missing `model`"); return nil }
        return result
    }

    private static func slice(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> MergeConfig.Slice? {
        guard let mapping = node.mapping else { problem(location, "must be {sources: [...]}"); return nil }
        var sources: [MergeConfig.Source] = []
        var parameters = ParameterSet()
        var hasSources = false
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "sources":
                guard let items = value.sequence, !items.isEmpty else { problem("\(location).sources", "must be a non-empty list"); continue }
                hasSources = true
                sources = items.enumerated().compactMap { i, item in
                    parseSource(item, at: "\(location).sources[\(i)]", allowed: sourceKeys, problem)
                }
            case "parameters":
                parameters = parameterSet(value, at: "\(location).parameters", problem)
            default:
                problem("\(location).\(key)", "unknown key; allowed: \(sliceKeys.joined(separator: ", "))")
            }
        }
        if !hasSources { problem(location, "missing `sources`"); return nil }
        for (i, s) in sources.enumerated() where s.layerRange == nil {
            problem("\(location).sources[\(i)]", "missing `layer_range` (every source of a slice needs one)")
        }
        let spans = Set(sources.compactMap { $0.layerRange?.count })
        if spans.count > 1 {
            problem(location, "all sources of a slice must span the same number of layers (found \(spans.sorted().map(String.init).joined(separator: ", ")))")
        }
        return MergeConfig.Slice(sources: sources, parameters: parameters)
    }

    private static func parameterSet(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> ParameterSet {
        var set = ParameterSet()
        if isNull(node) { return set }
        guard let mapping = node.mapping else { problem(location, "must be a mapping of parameter names to values"); return set }
        for (keyNode, value) in mapping {
            let name = keyNode.string ?? "?"
            if let parsed = parameterValue(value, at: "\(location).\(name)", problem) { set[name] = parsed }
        }
        return set
    }

    static func parameterValue(_ node: Node, at location: String, _ problem: (String, String) -> Void) -> ParameterValue? {
        if node.scalar != nil {
            switch kind(node) {
            case .int, .float: return node.float.map(ParameterValue.number)
            case .bool: return node.bool.map(ParameterValue.bool)
            case .null: problem(location, "has no value"); return nil
            default: return node.string.map(ParameterValue.string)
            }
        }
        if let items = node.sequence {
            guard !items.isEmpty else { problem(location, "is an empty list"); return nil }
            if items.allSatisfy({ $0.scalar != nil && (kind($0) == .int || kind($0) == .float) }) {
                return .gradient(items.compactMap(\.float))
            }
            if items.allSatisfy({ $0.mapping != nil }) {
                var entries: [ParameterValue.FilteredEntry] = []
                for (i, item) in items.enumerated() {
                    let here = "\(location)[\(i)]"
                    var filter: String?
                    var value: ParameterValue?
                    for (keyNode, v) in item.mapping! {
                        switch keyNode.string {
                        case "filter": filter = scalarString(v)
                        case "value": value = parameterValue(v, at: "\(here).value", problem)
                        default: problem("\(here).\(keyNode.string ?? "?")", "unknown key; allowed: filter, value")
                        }
                    }
                    guard let value else { problem(here, "missing `value`"); continue }
                    entries.append(.init(filter: filter, value: value))
                }
                return .filtered(entries)
            }
            let values = items.enumerated().compactMap { i, item in parameterValue(item, at: "\(location)[\(i)]", problem) }
            return .list(values)
        }
        problem(location, "must be a number, a boolean, a list (gradient) or a list of {filter, value}")
        return nil
    }
}
