import JobModel
import TensorIO

/// One input of a planned tensor: which model, which of its tensors, and the resolved
/// per-model parameters.
public struct PlannedInput: Sendable, Codable, Equatable {
    /// Index into `MergePlan.models`.
    public let model: Int
    public let tensor: String
    public let parameters: [String: ResolvedValue]
    /// The stored tensors this input is read from when `tensor` is a model-layout name the
    /// checkpoint does not store (`ExpertFusion`): one renamed tensor, or a fused tensor's
    /// parts whose bytes, one after another, are its bytes. Nil: `tensor` itself.
    public var parts: [String]? = nil
    /// The LoRA update read into this input (`model+adapter` in the config), or nil.
    public var lora: PlannedLoRA? = nil

    public init(model: Int, tensor: String, parameters: [String: ResolvedValue], parts: [String]? = nil, lora: PlannedLoRA? = nil) {
        self.model = model
        self.tensor = tensor
        self.parameters = parameters
        self.parts = parts
        self.lora = lora
    }

    /// The stored tensors it reads, in order.
    public var storedTensors: [String] { parts ?? [tensor] }
}

/// A LoRA update of one input weight W: it is read as `W + scale · B · A` (`transposed`:
/// `W + scale · (B · A)ᵀ`), formed in Float32 when the tensor's task runs (`LoRAUpdate`).
public struct PlannedLoRA: Sendable, Codable, Equatable {
    /// The adapter's index in `MergePlan.checkpoints` (after the config's models).
    public let model: Int
    /// Its `lora_A` ([r, in]) and `lora_B` ([out, r]) tensors.
    public let a: String
    public let b: String
    public let scale: Double
    public let transposed: Bool
}

/// The unit of work: one output tensor, fully resolved. It names its inputs by model index
/// and tensor name, so it can be shipped to another process as it is.
public struct PlannedTensor: Sendable, Codable, Equatable {
    public let name: String
    public let shape: [Int]
    public let base: PlannedInput?
    public let inputs: [PlannedInput]
    public let parameters: [String: ResolvedValue]
    /// Bytes this tensor takes in the output.
    public let outputBytes: Int
    /// Bytes read from the inputs to compute it.
    public let inputBytes: Int
    /// Set for a non-float buffer (an attention mask, a position table in an older export):
    /// its dtype, and the tensor is not merged but copied byte for byte from `inputs[0]`
    /// (the base model's, else the first model's), as mergekit leaves such buffers alone.
    public var copiedAs: DType? = nil
    /// Set for a token embedding or head of a tokenizer merge: how each input is laid out in
    /// the output vocabulary before the merge (copied into memory, not mapped).
    public var vocabulary: VocabularyRemap? = nil
}

/// One stack of the output's layers: a model's, or a module's (`ModularFamily`).
public struct LayerStack: Sendable {
    /// config.json path of the stack's layer count; nil for a whole model's (`OutputFiles.layerCountKeys`).
    public let countKey: String?
    /// For each output layer, the input layer its tensors come from (of the slice's base
    /// model, else its first model).
    public let sources: [Int]
}

/// A validated merge: models opened, every output tensor planned, every parameter resolved.
/// Building a plan reads headers only, never a weight.
public struct MergePlan: Sendable {
    public let config: MergeConfig
    public let method: any MergeMethod
    /// Model paths as written in the config, base first (the index is the model's random stream).
    public let modelPaths: [String]
    /// The models of `modelPaths`, in order, then the LoRA adapters they name (`PlannedLoRA.model`).
    public let checkpoints: [Checkpoint]
    public let tensors: [PlannedTensor]
    public let outputDType: DType
    /// The output's stacks of layers: one, or one per module with layers of a multi-module model.
    public let layerStacks: [LayerStack]
    /// Number of transformer layers in the output, all stacks together.
    public var layerCount: Int { layerStacks.reduce(0) { $0 + $1.sources.count } }
    /// The model whose config.json the output starts from (base, else first).
    public let referenceModel: Int
    /// The folder whose tokenizer files are copied (`tokenizer_source`, else the reference model's).
    public let tokenizerDirectory: String
    /// What the config says that the merge ignores, as mergekit does (e.g. a parameter
    /// another method uses): one line each, shown before the merge runs.
    public let warnings: [String]
    /// The output's vocabulary size where token rows were cut (`PlanOptions.truncateVocabulary`)
    /// or a tokenizer merge laid them out (`MergeConfig.tokenizer`), written to config.json's
    /// `vocab_size` (a multi-module model's `text_config.vocab_size`); nil otherwise.
    public var vocabularySize: Int? = nil
    /// The output's tokenizer.json, written over the copied one, where a tokenizer merge built
    /// it (tokens added, or unused ones removed).
    public var tokenizerDocument: JSONObject? = nil

    public var bytesToRead: Int { tensors.reduce(0) { $0 + $1.inputBytes } }
    public var bytesToWrite: Int { tensors.reduce(0) { $0 + $1.outputBytes } }

    /// Peak working memory for `threads` threads: each holds one chunk of every input, the
    /// output and method scratch in Float32; per tensor, recorded random masks (one bit per
    /// element and model), below the streaming threshold the resident input pages, and the
    /// largest tensor's fused inputs (`ExpertFusion`: copied, not mapped), remapped
    /// vocabulary inputs (Float32 copies) and inputs read by ranges from remote models (held in
    /// memory while their task runs). Inputs themselves are memory-mapped and paged by the kernel.
    public func peakMemoryEstimate(threads: Int) -> Int {
        let widest = tensors.map { 2 * ($0.inputs.count + ($0.base == nil ? 0 : 1)) + 4 }.max() ?? 0
        let rowChunk = tensors.map { max($0.shape.last ?? 1, TensorJob.chunkElements) }.max() ?? 0
        let largest = tensors.map { $0.shape.reduce(1, *) }.max() ?? 0
        let masks = method.isRandomized ? largest / 8 * (tensors.map(\.inputs.count).max() ?? 0) : 0
        let resident = min(ParallelChunks.residentInputBudget, tensors.map(\.inputBytes).max() ?? 0)
        let fused = tensors.filter { (($0.base.map { [$0] } ?? []) + $0.inputs).contains { ($0.parts?.count ?? 0) > 1 } }.map(\.inputBytes).max() ?? 0
        let remapped = tensors.filter { $0.vocabulary != nil }
            .map { ($0.inputs.count + ($0.base == nil ? 0 : 1)) * $0.shape.reduce(1, *) * MemoryLayout<Float>.size }.max() ?? 0
        let fetched = tensors.map { tensor in
            (tensor.base.map { [$0] } ?? []) + tensor.inputs
        }.map { sources in
            sources.filter { checkpoints[$0.model].remote != nil }.flatMap { source in source.storedTensors.map { (source.model, $0) } }
                .reduce(0) { $0 + (checkpoints[$1.0].info($1.1)?.byteCount ?? 0) }
        }.max() ?? 0
        return threads * widest * rowChunk * MemoryLayout<Float>.size + masks + resident + fused + remapped + fetched
    }
}
