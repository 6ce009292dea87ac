/// How the output vocabulary is built (`tokenizer_source:` or the `tokenizer:` section, as in
/// mergekit): which tokenizer the output has, and where each token's embedding and head rows
/// come from (`VocabularyMerge`).
public struct TokenizerSettings: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// Every token of every model: the base model's vocabulary, then the others' tokens it
        /// lacks, appended as added tokens.
        case union
        /// The base model's vocabulary (the first model's without a base).
        case base
        /// That model's tokenizer, as it is.
        case model(String)
    }

    /// Where one token's row comes from (`tokens: {TOKEN: {source: ...}}`).
    public enum EmbeddingSource: Sendable, Equatable {
        /// The row of the same token in that model.
        case model(String)
        /// A given row of that model, by id or by its token there (`kind: model_token`).
        case modelToken(model: String, id: Int?, token: String?)
        /// Zeros (`kind: zero`).
        case zero

        /// The model it reads, if any.
        public var model: String? {
            switch self {
            case .model(let m), .modelToken(let m, _, _): m
            case .zero: nil
            }
        }

        func renamingModel(_ rename: (String) -> String) -> EmbeddingSource {
            switch self {
            case .model(let m): .model(rename(m))
            case .modelToken(let m, let id, let text): .modelToken(model: rename(m), id: id, token: text)
            case .zero: .zero
            }
        }
    }

    /// One entry of `tokens:`: `force` puts the source's row in every model, even those that
    /// have the token.
    public struct Token: Sendable, Equatable {
        public var token: String
        public var source: EmbeddingSource
        public var force: Bool
    }

    public var source: Source
    /// In the order written.
    public var tokens: [Token]
    /// Rows past the vocabulary, up to a multiple of this, get each model's mean row.
    public var padToMultipleOf: Int?

    public init(source: Source, tokens: [Token] = [], padToMultipleOf: Int? = nil) {
        self.source = source
        self.tokens = tokens
        self.padToMultipleOf = padToMultipleOf
    }

    /// Every model path the settings name.
    public var modelReferences: [String] {
        var models: [String] = []
        if case .model(let m) = source { models.append(m) }
        return models + tokens.compactMap(\.source.model)
    }

    /// The same settings with model paths renamed by `rename`.
    func renamingModels(_ rename: (String) -> String) -> TokenizerSettings {
        var settings = self
        if case .model(let m) = source { settings.source = .model(rename(m)) }
        for i in settings.tokens.indices { settings.tokens[i].source = tokens[i].source.renamingModel(rename) }
        return settings
    }
}
