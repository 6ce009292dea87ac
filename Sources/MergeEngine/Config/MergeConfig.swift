/// A merge job as written in a mergekit YAML config.
public struct MergeConfig: Sendable {
    /// One input of a slice: a model, optionally a layer range, and per-model parameters.
    public struct Source: Sendable, Equatable {
        public var model: String
        /// Half-open `[start, end)` layer range, as in mergekit's `layer_range: [start, end]`.
        public var layerRange: Range<Int>?
        public var parameters: ParameterSet
        public init(model: String, layerRange: Range<Int>? = nil, parameters: ParameterSet = ParameterSet()) {
            self.model = model
            self.layerRange = layerRange
            self.parameters = parameters
        }
    }

    /// One output slice: layers built from its sources, with slice-level parameters.
    public struct Slice: Sendable, Equatable {
        public var sources: [Source]
        public var parameters: ParameterSet
        public init(sources: [Source], parameters: ParameterSet = ParameterSet()) {
            self.sources = sources
            self.parameters = parameters
        }
    }

    /// One entry of `modules:`: a part of a multi-module model (a text decoder, a vision
    /// tower, a projector) merged from its own models or slices, with its own parameters
    /// (between a slice's and the top level's in precedence).
    public struct Module: Sendable, Equatable {
        /// The module's name in the architecture (`ModularFamily.Module.name`).
        public var name: String
        public var models: [Source]?
        public var slices: [Slice]?
        public var parameters: ParameterSet
        public init(name: String, models: [Source]? = nil, slices: [Slice]? = nil, parameters: ParameterSet = ParameterSet()) {
            self.name = name
            self.models = models
            self.slices = slices
            self.parameters = parameters
        }
    }

    /// `name:`: what later documents of a multi-document config call this merge's output.
    public var name: String?
    public var mergeMethod: String
    /// `models:` form (sugar for one slice over all layers); nil when `slices:` is used.
    public var models: [Source]?
    public var slices: [Slice]?
    /// `modules:` form, in config order; nil when `models:` or `slices:` is used.
    public var modules: [Module]?
    public var baseModel: String?
    public var parameters: ParameterSet
    /// Compute dtype as written (`dtype:`); Crucible computes in Float32 and uses it as the
    /// default output dtype.
    public var dtype: String?
    public var outDtype: String?
    /// `tokenizer_source:` or `tokenizer:`; nil: the reference model's tokenizer, and
    /// vocabularies must agree.
    public var tokenizer: TokenizerSettings?
    public var chatTemplate: String?
    /// The config text as given, copied into the output folder.
    public var text: String

    public init(mergeMethod: String, models: [Source]? = nil, slices: [Slice]? = nil, baseModel: String? = nil,
                parameters: ParameterSet = ParameterSet(), dtype: String? = nil, outDtype: String? = nil,
                tokenizer: TokenizerSettings? = nil, chatTemplate: String? = nil, text: String = "") {
        self.mergeMethod = mergeMethod
        self.models = models
        self.slices = slices
        self.baseModel = baseModel
        self.parameters = parameters
        self.dtype = dtype
        self.outDtype = outDtype
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.text = text
    }

    /// The same config with model references renamed by `paths` (a stage's output in place of
    /// its name), tokenizer settings included.
    public func renamingModels(_ paths: [String: String]) -> MergeConfig {
        var config = self
        // A stage's name may carry a LoRA adapter (`stage+adapter`): the model part is renamed.
        func rename(_ reference: String) -> String {
            let (model, adapter) = LoRAAdapter.split(reference)
            guard let path = paths[model] else { return reference }
            return adapter.map { path + "+" + $0 } ?? path
        }
        config.baseModel = baseModel.map(rename)
        func renamed(_ sources: [Source]?) -> [Source]? { sources?.map { var s = $0; s.model = rename(s.model); return s } }
        func renamed(_ slices: [Slice]?) -> [Slice]? {
            slices?.map { var slice = $0; slice.sources = renamed(slice.sources)!; return slice }
        }
        config.models = renamed(models)
        config.slices = renamed(slices)
        config.modules = modules?.map { var module = $0; module.models = renamed(module.models); module.slices = renamed(module.slices); return module }
        config.tokenizer = tokenizer?.renamingModels(rename)
        return config
    }

    /// Every model whose weights the config uses, base first, then in order of appearance
    /// (a model named only by the tokenizer settings is not one: it provides tokenizer files or rows).
    public var modelReferences: [String] {
        var seen: [String] = []
        func add(_ m: String) { if !seen.contains(m) { seen.append(m) } }
        if let baseModel { add(baseModel) }
        models?.forEach { add($0.model) }
        slices?.forEach { $0.sources.forEach { add($0.model) } }
        for module in modules ?? [] {
            module.models?.forEach { add($0.model) }
            module.slices?.forEach { $0.sources.forEach { add($0.model) } }
        }
        return seen
    }
}
