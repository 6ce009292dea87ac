#if canImport(Glibc)
import Glibc
#endif
import Evaluator
import JobModel
import TensorIO

/// Options that shape a plan (not the config itself).
public struct PlanOptions: Sendable {
    /// Merge models of different architectures anyway.
    public var allowCrimes = false
    /// Where token embeddings or heads have different vocabulary sizes, keep the rows all
    /// models have (mergekit's `--unsafe-truncate-embeddings`): only right when the models
    /// share token IDs over those rows.
    public var truncateVocabulary = false
    /// Output dtype override (`--out-dtype`); else the config's `out_dtype`, then `dtype`,
    /// then the reference model's own dtype.
    public var outputDType: DType?
    /// Threads the merge will run with (for the memory estimate).
    public var threads = 1
    /// Working memory the merge may use; the plan is refused when its estimate exceeds it.
    public var memoryBudget: Int = Planner.physicalMemory

    /// Folder that relative model paths are resolved against (the current directory when nil,
    /// as in mergekit).
    public var workingDirectory: String?

    /// Makes a local file or folder of a model reference that is no existing path (a Hugging
    /// Face Hub `org/name@revision`, say); when nil, model references are paths only.
    public var resolveModel: (@Sendable (String) throws -> String)?

    /// Opens a model reference that is no existing path as a remote checkpoint (headers now,
    /// each tensor's bytes read over HTTP when a task asks for it); when set, it is used
    /// instead of `resolveModel` for models (a LoRA adapter or tokenizer source still goes
    /// through `resolveModel`).
    public var openRemote: (@Sendable (String) throws -> Checkpoint)?

    public init(allowCrimes: Bool = false, truncateVocabulary: Bool = false, outputDType: DType? = nil, workingDirectory: String? = nil,
                threads: Int = 1, resolveModel: (@Sendable (String) throws -> String)? = nil,
                openRemote: (@Sendable (String) throws -> Checkpoint)? = nil) {
        self.openRemote = openRemote
        self.threads = threads
        self.allowCrimes = allowCrimes
        self.truncateVocabulary = truncateVocabulary
        self.outputDType = outputDType
        self.workingDirectory = workingDirectory
        self.resolveModel = resolveModel
    }

    /// Where the model at `path` (as written in the config) is on disk: the path itself
    /// (relative to `workingDirectory`), else what `resolveModel` makes of it.
    /// A local path written `path@revision` is the path itself, as in mergekit (a revision
    /// names a Hub commit; a local folder has only the one it holds).
    public func location(of path: String) throws -> String {
        let local = localPath(of: path)
        if !FileSystem.exists(local), let revisionless = PlanOptions.withoutRevision(local) { return revisionless }
        guard let resolveModel, !FileSystem.exists(local) else { return local }
        return try resolveModel(path)
    }

    /// The model at `path` (as written in the config): a local checkpoint, else `openRemote`'s,
    /// else the checkpoint at what `resolveModel` makes of it.
    public func open(_ path: String) throws -> Checkpoint {
        let local = localPath(of: path)
        if let openRemote, !FileSystem.exists(local), PlanOptions.withoutRevision(local) == nil { return try openRemote(path) }
        return try Checkpoint(path: location(of: path))
    }

    /// `path` without its `@revision` when what precedes the one `@` is an existing path.
    static func withoutRevision(_ path: String) -> String? {
        let parts = path.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, FileSystem.exists(String(parts[0])) else { return nil }
        return String(parts[0])
    }

    /// `path` as a path, relative to `workingDirectory`.
    func localPath(of path: String) -> String {
        guard let workingDirectory, !path.hasPrefix("/") else { return path }
        return FileSystem.join(workingDirectory, path)
    }
}

/// Turns a config into a `MergePlan`: validates it against the method's declarations, opens
/// every model (headers only), lays out the output tensors, resolves every parameter for
/// every tensor, and reports every problem at once.
public struct Planner {
    let config: MergeConfig
    let source: String
    let options: PlanOptions
    private var problems: [ProblemList.Problem] = []
    private var warnings: [String] = []
    /// The output's vocabulary size where `truncateVocabulary` cut token rows.
    private var truncatedVocabulary: Int?
    /// The output vocabulary of a tokenizer merge (`config.tokenizer`).
    private var vocabularyMerge: VocabularyMerge?
    private var seenProblems = Set<String>()
    /// Rules broken by an input's per-model parameters taken together, each reported once
    /// with the first tensor it concerns and how many more: key → (location, message, tensor, count).
    private var inputProblems: [String: (location: String, message: String, tensor: String, count: Int)] = [:]
    private var inputProblemOrder: [String] = []
    /// The LoRA adapter of each model that names one (by model index), and its index among
    /// the plan's checkpoints.
    private var adapters: [Int: (adapter: LoRAAdapter, index: Int)] = [:]
    /// The part being planned.
    private var part: Part

    /// A part of the output planned on its own: one module of a multi-module model
    /// (`ModularFamily`), else the whole model. `location` prefixes the config locations its
    /// problems name; `parameters` rank between a slice's and the top level's.
    struct Part {
        var module: ModularFamily.Module? = nil
        var models: [MergeConfig.Source]?
        var slices: [MergeConfig.Slice]?
        var parameters = ParameterSet()
        var location = ""
    }

    public static func plan(_ config: MergeConfig, source: String = "config", options: PlanOptions = PlanOptions()) throws(ProblemList) -> MergePlan {
        var planner = Planner(config: config, source: source, options: options)
        return try planner.build()
    }

    private init(config: MergeConfig, source: String, options: PlanOptions) {
        self.config = config
        self.source = source
        self.options = options
        part = Part(models: config.models, slices: config.slices)
    }

    private mutating func problem(_ location: String, _ message: String) {
        let p = ProblemList.Problem(location, message)
        if seenProblems.insert(p.description).inserted { problems.append(p) }
    }

    /// Problems found in parameter values: they do not stop planning (the planner only
    /// passes values on), so the tensor-level ones are found in the same run.
    private var parameterProblems = 0

    private func failIfProblems() throws(ProblemList) {
        if !problems.isEmpty { throw ProblemList(source: source, problems: Array(problems.prefix(50))) }
    }

    /// Fails on problems that keep planning from going on (not parameter values).
    private func failIfBlocked() throws(ProblemList) {
        if problems.count > parameterProblems { try failIfProblems() }
    }

    private mutating func build() throws(ProblemList) -> MergePlan {
        guard let method = MethodRegistry.method(named: config.mergeMethod) else {
            problem("merge_method", "unknown method \"\(config.mergeMethod)\"; available: \(MethodRegistry.names.joined(separator: ", "))")
            // Only paths are checked: nothing is downloaded for a config that fails anyway.
            for path in config.modelReferences where options.resolveModel == nil && (try? options.location(of: path)).map(FileSystem.exists) != true {
                problem("model \(path)", "no such file or folder")
            }
            throw ProblemList(source: source, problems: problems)
        }
        validateParameters(method)
        parameterProblems = problems.count
        if method.baseModel == .required && config.baseModel == nil {
            problem("base_model", "\(method.name) needs a base_model (it takes \(method.inputContract))")
        }
        if method.baseModel == .unused, let base = config.baseModel,
           !(config.models?.contains { $0.model == base } ?? true) {
            if method.mergesUnlistedBase {
                warnings.append("base_model: \(method.name) does not use a base model; \(base) is merged as one more model, as mergekit does")
            } else {
                problem("base_model", "\(method.name) does not use a base model; list \"\(base)\" under models: with a weight, or remove base_model")
            }
        }

        // Open every model: headers and config.json only.
        let paths = config.modelReferences
        var checkpoints: [Checkpoint?] = []
        var adapterCheckpoints: [Checkpoint] = []
        for (m, path) in paths.enumerated() {
            let (model, adapter) = LoRAAdapter.split(path)
            do {
                checkpoints.append(try options.open(model))
            } catch {
                problem("model \(path)", "\(error)")
                checkpoints.append(nil)
            }
            guard let adapter else { continue }
            do {
                let opened = try LoRAAdapter(folder: options.location(of: adapter))
                adapters[m] = (opened, paths.count + adapterCheckpoints.count)
                adapterCheckpoints.append(opened.checkpoint)
            } catch {
                problem("model \(path)", "\(error)")
            }
        }
        try failIfBlocked()
        let models = checkpoints.map { $0! }
        func index(of path: String) -> Int { paths.firstIndex(of: path)! }

        checkArchitectures(models, paths: paths)

        // The parts, each with its layouts and slices (the base added where the method uses one
        // and the config left it out).
        var laidOut: [(part: Part, layouts: [ModelLayout], slices: [MergeConfig.Slice])] = []
        for part in parts(family: ModularFamily.of(config: models[0].config), reference: paths[0]) {
            self.part = part
            let layouts = models.map { ModelLayout($0, module: part.module) }
            let slices = normalizedSlices(method: method, layouts: layouts, index: index)
            for (s, slice) in slices.enumerated() {
                for (i, src) in slice.sources.enumerated() {
                    guard let range = src.layerRange else { continue }
                    let available = layouts[index(of: src.model)].layerCount
                    if range.upperBound > available {
                        problem("\(part.location)slices[\(s)].sources[\(i)].layer_range",
                                "[\(range.lowerBound), \(range.upperBound)] is past the \(available) layers of \(src.model)")
                    }
                }
                let others = slice.sources.filter { method.baseModel == .unused || $0.model != config.baseModel }
                if !method.inputCount.contains(others.count) {
                    problem(part.location + (part.slices == nil ? "models" : "slices[\(s)]"),
                            "\(method.name) takes \(method.inputContract); this has \(others.count) model\(others.count == 1 ? "" : "s") besides the base")
                }
            }
            laidOut.append((part, layouts, slices))
        }
        try failIfBlocked()

        let referenceModel = config.baseModel.map(index) ?? index(of: laidOut[0].slices[0].sources[0].model)
        if let settings = config.tokenizer {
            do {
                let merge = try VocabularyMerge(settings, paths: paths, models: models, base: config.baseModel.map(index) ?? 0,
                                                location: { try options.location(of: $0) })
                warnings += merge.warnings
                let missing = merge.tokensWithoutRows
                if !missing.isEmpty {
                    warnings.append("tokenizer: no model has a row for \(missing.prefix(5).joined(separator: ", "))"
                                    + (missing.count > 5 ? " and \(missing.count - 5) more" : "") + "; they get zeros")
                }
                vocabularyMerge = merge
            } catch {
                problem("tokenizer", "\(error)")
            }
            try failIfBlocked()
        }
        var tensors: [PlannedTensor] = []
        let outputDType = resolveOutputDType(models[referenceModel], method: method)

        // Per part: pre-layer weights from the first slice, t = 0; layers from their slice,
        // t = idx/(n-1); post-layer weights from the last slice, t = 0.
        var stacks: [LayerStack] = []
        for (part, layouts, slices) in laidOut {
            self.part = part
            let reference = layouts[referenceModel]
            for name in reference.pre {
                if let t = planTensor(output: name, inputs: { _ in name }, slice: slices[0], sliceIndex: 0, t: 0, method: method,
                                      models: models, layouts: layouts, index: index, dtype: outputDType) { tensors.append(t) }
            }
            var sourceLayers: [Int] = []
            for (sliceIndex, slice) in slices.enumerated() {
                // Layer tensors are enumerated from the base model's source (else the first), so a
                // tensor another model lacks is reported rather than silently skipped.
                let reference = slice.sources.first { $0.model == config.baseModel } ?? slice.sources[0]
                let span = reference.layerRange!.count
                let referenceLayout = layouts[index(of: reference.model)]
                for j in 0..<span {
                    let t = span > 1 ? Double(j) / Double(span - 1) : 1
                    let sourceLayer = reference.layerRange!.lowerBound + j
                    for name in referenceLayout.layers[sourceLayer] ?? [] {
                        guard let layerName = LayerName(name) else { continue }
                        let planned = planTensor(
                            output: layerName.renumbered(sourceLayers.count),
                            inputs: { src in layerName.renumbered(src.layerRange!.lowerBound + j) },
                            slice: slice, sliceIndex: sliceIndex, t: t, method: method, models: models, layouts: layouts, index: index, dtype: outputDType)
                        if let planned { tensors.append(planned) }
                    }
                    sourceLayers.append(sourceLayer)
                }
            }
            for name in reference.post {
                if let t = planTensor(output: name, inputs: { _ in name }, slice: slices[slices.count - 1], sliceIndex: slices.count - 1,
                                      t: 0, method: method,
                                      models: models, layouts: layouts, index: index, dtype: outputDType) { tensors.append(t) }
            }
            if part.module == nil || part.module?.layerCountKey != nil {
                stacks.append(LayerStack(countKey: part.module?.layerCountKey, sources: sourceLayers))
            }
        }
        for key in inputProblemOrder {
            let p = inputProblems[key]!
            problem(p.location, p.message + " (tensor \(p.tensor)" + (p.count > 1 ? " and \(p.count - 1) more)" : ")"))
        }
        if tensors.isEmpty { problem("", "the plan has no tensors to write") }

        try failIfProblems()
        for (m, entry) in adapters.sorted(by: { $0.key < $1.key }) {
            let used = Set(tensors.flatMap { ($0.base.map { [$0] } ?? []) + $0.inputs }.compactMap { $0.model == m ? $0.lora?.a : nil })
            let unused = entry.adapter.pairs.filter { !used.contains($0.value.a) }.keys.sorted()
            if !unused.isEmpty {
                problem("model \(paths[m])", "the adapter updates \(unused.count) weight(s) the merge does not read from the model "
                        + "(first: \(unused[0])): is it an adapter of this model?")
            }
        }
        let plan = MergePlan(config: config, method: method, modelPaths: paths, checkpoints: models + adapterCheckpoints, tensors: tensors,
                         outputDType: outputDType, layerStacks: stacks, referenceModel: referenceModel,
                         tokenizerDirectory: vocabularyMerge?.tokenizerDirectory ?? models[referenceModel].directory, warnings: warnings,
                         vocabularySize: vocabularyMerge?.rows ?? truncatedVocabulary, tokenizerDocument: vocabularyMerge?.tokenizerDocument)
        let needed = plan.peakMemoryEstimate(threads: options.threads)
        if needed > options.memoryBudget {
            problem("", "the merge needs about \(ByteCount.format(needed)) of working memory with \(options.threads) threads, "
                    + "more than the \(ByteCount.format(options.memoryBudget)) available; use fewer threads (-j)")
        }
        try failIfProblems()
        return plan
    }

    /// This machine's physical memory in bytes.
    public static var physicalMemory: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    // MARK: - Parameters

    /// The name in `names` closest to `name` by edit distance, when it is close enough to be
    /// a likely typo (at most a third of the name's length, and at most 3 edits).
    static func nearest(_ name: String, in names: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var previous = row[0]
                row[0] = i + 1
                for (j, y) in b.enumerated() {
                    let next = min(row[j + 1] + 1, row[j] + 1, previous + (x == y ? 0 : 1))
                    previous = row[j + 1]
                    row[j + 1] = next
                }
            }
            return row[b.count]
        }
        let limit = min(3, max(1, name.count / 3))
        return names.map { ($0, distance(Array(name), Array($0))) }.filter { $0.1 <= limit }.min { $0.1 < $1.1 }?.0
    }

    /// Every parameter named in the config must be one the method declares, of the right
    /// type. As in mergekit, a parameter that another method uses, or a global parameter set
    /// under a model, is ignored with a warning; a name no method knows (a likely typo) is a
    /// problem, with the nearest known name as a hint.
    private mutating func validateParameters(_ method: any MergeMethod) {
        let specs = Dictionary(uniqueKeysWithValues: method.parameters.map { ($0.name, $0) })
        let allowed = method.parameters.isEmpty ? "none" : method.parameters.map(\.name).joined(separator: ", ")
        let known = Set(MethodRegistry.all.flatMap { $0.parameters.map(\.name) })
        func check(_ set: ParameterSet, at location: String, perModelOnly: Bool) {
            for (name, value) in set.entries {
                guard let spec = specs[name] else {
                    if known.contains(name) {
                        warnings.append("\(location).\(name): \(method.name) does not use \(name); ignored, as mergekit does")
                    } else {
                        let hint = Planner.nearest(name, in: method.parameters.map(\.name) + known.sorted()).map { "did you mean \($0)? " } ?? ""
                        problem("\(location).\(name)", "unknown parameter for \(method.name); \(hint)allowed: \(allowed)")
                    }
                    continue
                }
                if perModelOnly && spec.scope == .global {
                    warnings.append("\(location).\(name): \(name) is a global parameter of \(method.name) and is ignored under a model, "
                                    + "as mergekit does; set it under the top-level or slice `parameters:` to use it")
                    continue
                }
                if let wrong = typeProblem(value, spec) {
                    problem("\(location).\(name)", wrong)
                } else if spec.kind == .number {
                    checkNumbers(value, spec, at: "\(location).\(name)")
                }
            }
        }
        func check(models: [MergeConfig.Source]?, slices: [MergeConfig.Slice]?, at prefix: String) {
            for (i, m) in (models ?? []).enumerated() { check(m.parameters, at: "\(prefix)models[\(i)].parameters", perModelOnly: true) }
            for (s, slice) in (slices ?? []).enumerated() {
                check(slice.parameters, at: "\(prefix)slices[\(s)].parameters", perModelOnly: false)
                for (i, src) in slice.sources.enumerated() {
                    check(src.parameters, at: "\(prefix)slices[\(s)].sources[\(i)].parameters", perModelOnly: true)
                }
            }
        }
        check(config.parameters, at: "parameters", perModelOnly: false)
        check(models: config.models, slices: config.slices, at: "")
        for module in config.modules ?? [] {
            check(module.parameters, at: "modules.\(module.name).parameters", perModelOnly: false)
            check(models: module.models, slices: module.slices, at: "modules.\(module.name).")
        }
    }

    /// Every number in `value` (each point of a gradient, each list item, each filter's value)
    /// must be finite and within the parameter's range; gradients interpolate between these
    /// points, so what a tensor resolves to is within the range too.
    private mutating func checkNumbers(_ value: ParameterValue, _ spec: ParameterSpec, at location: String) {
        func check(_ x: Double, at location: String) {
            if !x.isFinite {
                problem(location, "must be a finite number, found \(x)")
            } else if let valid = spec.valid, !valid.contains(x) {
                problem(location, "\(spec.name) must be in \(valid), found \(x)")
            }
        }
        switch value {
        case .number(let x): check(x, at: location)
        case .gradient(let values): for (i, x) in values.enumerated() { check(x, at: "\(location)[\(i)]") }
        case .list(let items): for (i, item) in items.enumerated() { checkNumbers(item, spec, at: "\(location)[\(i)]") }
        case .filtered(let entries):
            for (i, entry) in entries.enumerated() { checkNumbers(entry.value, spec, at: "\(location)[\(i)].value") }
        case .bool, .string: break
        }
    }

    private func typeProblem(_ value: ParameterValue, _ spec: ParameterSpec) -> String? {
        switch (value, spec.kind) {
        case (.number, .number), (.gradient, .number), (.bool, .bool): return nil
        case (.list(let items), _):
            return items.lazy.compactMap { typeProblem($0, spec) }.first
        case (.filtered(let entries), _):
            return entries.lazy.compactMap { typeProblem($0.value, spec) }.first
        case (_, .number): return "must be a number or a list of numbers (gradient), found \(value)"
        case (_, .bool): return "must be true or false, found \(value)"
        }
    }

    /// Resolves `spec` for one tensor: source > slice > module > top-level > the method's default, every
    /// level matched against `tensor` — the model's input name for per-model parameters, the
    /// output name for global ones (as mergekit does).
    private mutating func resolve(_ spec: ParameterSpec, source: MergeConfig.Source?, tensor: String,
                                  slice: MergeConfig.Slice, t: Double) -> ResolvedValue? {
        if let source, let v = source.parameters[spec.name]?.resolve(tensor: tensor, t: t) { return v }
        if let v = slice.parameters[spec.name]?.resolve(tensor: tensor, t: t) { return v }
        if let v = part.parameters[spec.name]?.resolve(tensor: tensor, t: t) { return v }
        if let v = config.parameters[spec.name]?.resolve(tensor: tensor, t: t) { return v }
        return spec.defaultValue
    }

    // MARK: - Tensors

    private mutating func planTensor(output: String, inputs inputName: (MergeConfig.Source) -> String,
                                     slice: MergeConfig.Slice, sliceIndex: Int, t: Double, method: any MergeMethod,
                                     models: [Checkpoint], layouts: [ModelLayout], index: (String) -> Int,
                                     dtype: DType) -> PlannedTensor? {
        var base: PlannedInput?
        var planned: [PlannedInput] = []
        var shapes: [(String, [Int])] = []
        var inputBytes = 0
        // Token embeddings and output heads: their first axis is the vocabulary.
        var vocabulary = true
        // A non-float buffer is copied from the base model (else the slice's first model).
        let reference = slice.sources.first { $0.model == config.baseModel } ?? slice.sources[0]
        let referenceIndex = index(reference.model)
        if let info = layouts[referenceIndex].info(inputName(reference), in: models[referenceIndex]), !info.dtype.isFloatingPoint {
            var copy = PlannedTensor(name: output, shape: info.shape, base: nil,
                                     inputs: [PlannedInput(model: referenceIndex, tensor: inputName(reference), parameters: [:],
                                                           parts: layouts[referenceIndex].parts(of: inputName(reference)))],
                                     parameters: [:], outputBytes: info.byteCount, inputBytes: info.byteCount)
            copy.copiedAs = info.dtype
            return copy
        }
        for (sourceIndex, src) in slice.sources.enumerated() {
            let m = index(src.model)
            var name = inputName(src)
            if !layouts[m].contains(name, in: models[m]), layouts[m].isOutputHead(name), let embedding = layouts[m].embedding {
                name = embedding  // tied embeddings: lm_head falls back to the input embedding
            }
            guard let info = layouts[m].info(name, in: models[m]) else {
                problem("tensor \(output)", "missing from model \(src.model) (looked for \"\(name)\")")
                continue
            }
            if !info.dtype.isFloatingPoint {
                problem("tensor \(output)", "\(src.model) stores it as \(info.dtype.rawValue), which cannot be merged")
            }
            shapes.append((src.model, info.shape))
            vocabulary = vocabulary && (name == layouts[m].embedding || layouts[m].isOutputHead(name))
            inputBytes += info.byteCount
            let isBase = method.baseModel != .unused && src.model == config.baseModel
            var params: [String: ResolvedValue] = [:]
            for spec in method.parameters where spec.scope == .perModel {
                if let v = resolve(spec, source: src, tensor: name, slice: slice, t: t) {
                    params[spec.name] = v
                } else if !isBase {
                    problem("tensor \(output)", "no value for per-model parameter \"\(spec.name)\" of model \(src.model) (required by \(method.name))")
                }
            }
            if !isBase, let wrong = method.problem(perModel: params) {
                // Named where the config sets this model's parameters (a base model added to
                // the slice by the planner is never checked).
                let location = part.location + (part.models.map { models in
                    "models[\(models.firstIndex { $0.model == src.model } ?? sourceIndex)].parameters"
                } ?? "slices[\(sliceIndex)].sources[\(sourceIndex)].parameters")
                noteInputProblem(location, wrong, tensor: output)
            }
            var input = PlannedInput(model: m, tensor: name, parameters: params, parts: layouts[m].parts(of: name))
            if let (adapter, adapterIndex) = adapters[m], let pair = adapter.pairs[name] {
                input.lora = loRA(pair, of: adapter, index: adapterIndex, weight: info, model: src.model, tensor: output)
                inputBytes += [pair.a, pair.b].reduce(0) { $0 + (adapter.checkpoint.info($1)?.byteCount ?? 0) }
            }
            if isBase { base = input } else { planned.append(input) }
        }
        var shape = shapes.first?.1
        var remap: VocabularyRemap?
        if vocabulary, let merge = vocabularyMerge, !shapes.isEmpty {
            // A tokenizer merge: every input laid out in the output vocabulary (its rows, one hidden size).
            guard shapes.allSatisfy({ $0.1.count == 2 && $0.1[1] == shapes[0].1[1] }) else {
                problem("tensor \(output)", "shapes disagree past the vocabulary: " + shapes.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
                return nil
            }
            do {
                let inputs = (base.map { [$0] } ?? []) + planned
                remap = try merge.remap(models: inputs.map(\.model), inputRows: shapes.map { $0.1[0] })
            } catch {
                problem("tokenizer", "\(error)")
            }
            shape = [merge.rows, shapes[0].1[1]]
        } else if Set(shapes.map { $0.1 }).count > 1 {
            let listed = shapes.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            let rowsDiffer = vocabulary && shapes.allSatisfy { $0.1.count == 2 && $0.1[1] == shapes[0].1[1] }
            if rowsDiffer && options.truncateVocabulary {
                let rows = shapes.map { $0.1[0] }.min()!
                shape = [rows, shapes[0].1[1]]
                truncatedVocabulary = min(truncatedVocabulary ?? rows, rows)
                warnings.append("tensor \(output): UNSAFE vocabulary truncation: \(listed) → \(shape!); the trailing token rows are dropped, "
                                + "which is only right if the models share token IDs over the first \(rows)")
            } else if rowsDiffer {
                problem("tensor \(output)", "vocabulary sizes differ: \(listed). mergekit 0.1.5 refuses this too; "
                        + "--unsafe-truncate-embeddings keeps the first rows all models have (only right if they share token IDs there)")
            } else {
                problem("tensor \(output)", "shapes disagree: " + listed)
            }
        }
        var globals: [String: ResolvedValue] = [:]
        for spec in method.parameters where spec.scope == .global {
            if let v = resolve(spec, source: nil, tensor: output, slice: slice, t: t) {
                globals[spec.name] = v
            } else {
                problem("tensor \(output)", "no value for parameter \"\(spec.name)\" (required by \(method.name))")
            }
        }
        guard let shape else { return nil }
        let count = shape.reduce(1, *)
        var tensor = PlannedTensor(name: output, shape: shape, base: base, inputs: planned, parameters: globals,
                                   outputBytes: count * dtype.bitWidth / 8, inputBytes: inputBytes)
        tensor.vocabulary = remap
        return tensor
    }

    /// The update of `weight` by `pair` of `adapter`, with its shapes checked against the weight's.
    private mutating func loRA(_ pair: (a: String, b: String), of adapter: LoRAAdapter, index: Int, weight: TensorInfo,
                               model: String, tensor: String) -> PlannedLoRA? {
        guard let a = adapter.checkpoint.info(pair.a), let b = adapter.checkpoint.info(pair.b) else { return nil }
        let (rows, columns) = weight.shape.count == 2 ? (weight.shape[0], weight.shape[1]) : (-1, -1)
        let (out, inp) = adapter.fanInFanOut ? (columns, rows) : (rows, columns)
        guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1], b.shape[0] == out, a.shape[1] == inp,
              a.dtype.isFloatingPoint, b.dtype.isFloatingPoint else {
            problem("model \(model)", "tensor \(tensor): the adapter's \(pair.a) \(a.shape) and \(pair.b) \(b.shape) do not fit the weight \(weight.shape)")
            return nil
        }
        return PlannedLoRA(model: index, a: pair.a, b: pair.b, scale: adapter.scale, transposed: adapter.fanInFanOut)
    }

    private mutating func noteInputProblem(_ location: String, _ message: String, tensor: String) {
        let key = location + "\u{0}" + message
        if inputProblems[key] == nil {
            inputProblems[key] = (location, message, tensor, 0)
            inputProblemOrder.append(key)
        }
        inputProblems[key]!.count += 1
    }

    private mutating func normalizedSlices(method: any MergeMethod, layouts: [ModelLayout],
                                           index: (String) -> Int) -> [MergeConfig.Slice] {
        let usesBase = method.baseModel != .unused || method.mergesUnlistedBase
        if let models = part.models {
            var sources = models.map { m in
                MergeConfig.Source(model: m.model, layerRange: 0..<layouts[index(m.model)].layerCount, parameters: m.parameters)
            }
            if usesBase, let base = config.baseModel, !sources.contains(where: { $0.model == base }) {
                sources.append(MergeConfig.Source(model: base, layerRange: 0..<layouts[index(base)].layerCount))
            }
            let counts = Set(sources.map { $0.layerRange!.count })
            if counts.count > 1 {
                problem("\(part.location)models", "the models have different layer counts (" +
                        sources.map { "\($0.model): \($0.layerRange!.count)" }.joined(separator: ", ") + "); use slices: with layer_range")
            }
            return [MergeConfig.Slice(sources: sources)]
        }
        return (part.slices ?? []).map { slice in
            var slice = slice
            if usesBase, let base = config.baseModel, !slice.sources.contains(where: { $0.model == base }),
               let range = slice.sources.first?.layerRange {
                slice.sources.append(MergeConfig.Source(model: base, layerRange: range))
            }
            return slice
        }
    }

    /// The parts of the output: a multi-module model's modules (as `modules:` lists them; for
    /// `models:`, every module from the same models), else the whole model.
    private mutating func parts(family: ModularFamily?, reference: String) -> [Part] {
        guard let family else {
            if config.modules != nil {
                problem("modules", "\(reference) is not a multi-module model; modules: is for "
                        + ModularFamily.supported.map(\.modelType).joined(separator: ", "))
                return []
            }
            return [Part(models: config.models, slices: config.slices)]
        }
        let names = family.modules.map(\.name)
        guard let modules = config.modules else {
            if config.slices != nil {
                problem("slices", "a \(family.modelType) model has several modules (\(names.joined(separator: ", "))); "
                        + "give slices per module under modules:, as mergekit requires")
                return []
            }
            return family.modules.map { Part(module: $0, models: config.models) }
        }
        var parts: [Part] = []
        for module in modules {
            guard let declared = family.module(named: module.name) else {
                problem("modules.\(module.name)", "a \(family.modelType) model has no such module; its modules: \(names.joined(separator: ", "))")
                continue
            }
            parts.append(Part(module: declared, models: module.models, slices: module.slices, parameters: module.parameters,
                              location: "modules.\(module.name)."))
        }
        let missing = names.filter { name in !modules.contains { $0.name == name } }
        if !missing.isEmpty {
            problem("modules", "no entry for \(missing.joined(separator: ", ")): every module of a \(family.modelType) model needs one "
                    + "(mergekit would write the model without it)")
        }
        return parts
    }

    private mutating func checkArchitectures(_ models: [Checkpoint], paths: [String]) {
        guard !options.allowCrimes else { return }
        func architecture(_ c: Checkpoint) -> String? {
            c.config?["architectures"]?.arrayValue?.first?.stringValue ?? c.config?["model_type"]?.stringValue
        }
        let named = zip(paths, models).compactMap { p, c in architecture(c).map { (p, $0) } }
        if Set(named.map(\.1)).count > 1 {
            problem("models", "architectures differ (" + named.map { "\($0.0): \($0.1)" }.joined(separator: ", ") +
                    "); pass --allow-crimes to merge them anyway")
        }
    }

    /// `--out-dtype`, else `out_dtype`, else float32 for a method that writes it (as mergekit),
    /// else `dtype`, else the reference model's first float dtype.
    private mutating func resolveOutputDType(_ reference: Checkpoint, method: any MergeMethod) -> DType {
        if let forced = options.outputDType { return forced }
        let named = [("out_dtype", config.outDtype), ("dtype", config.dtype)].map { key, name -> DType? in
            guard let name else { return nil }
            guard let dtype = DType(torchName: name) else {
                problem(key, "unknown dtype \"\(name)\"; use float32, bfloat16, float16 or float64")
                return nil
            }
            return dtype
        }
        if let dtype = named[0] { return dtype }
        if method.writesFloat32 { return .f32 }
        if let dtype = named[1] { return dtype }
        let firstFloat = reference.tensorNames.lazy.compactMap { reference.info($0)?.dtype }.first { $0.isWritableFromFloat32 }
        return firstFloat ?? .f32
    }
}
