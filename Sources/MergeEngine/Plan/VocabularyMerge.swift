import TensorIO

/// The output vocabulary of a tokenizer merge (`tokenizer_source:` or `tokenizer:`), built
/// as mergekit 0.1.5 builds it, and where each model's embedding and head rows go in it.
///
/// - `base`: the base model's tokens (the first model's without a base) that it has rows for.
/// - `union`: those, then every other token of the models (their vocabularies in model
///   order and id order, then their added tokens) appended as added tokens. mergekit appends
///   them in the order of a hash map, which differs from run to run; Crucible in id order.
/// - a model: that model's tokenizer as it is.
///
/// A model's row of an output token is its own row of that token. A model that lacks the
/// token (or every model, for a `force`d token) takes the token's `tokens:` source if one is
/// given, else the only model's row that has it, else the base model's, else the mean of the
/// models that have it, else zeros. Rows past the tokens (`pad_to_multiple_of`) are each
/// model's mean token row.
struct VocabularyMerge {
    /// Output tokens by id (nil: an id no token has).
    let tokens: [String?]
    /// Output rows: the tokens, padded.
    let rows: Int
    /// For each merged model (plan index), each output id's row in that model, or -1.
    let rowOf: [Int: [Int]]
    let vocabularies: [Int: ModelVocabulary]
    /// `tokens:` settings by output id.
    let settings: [Int: TokenizerSettings.Token]
    let base: Int
    /// The output's tokenizer.json where it is not a model's file as it is.
    let tokenizerDocument: JSONObject?
    /// The folder whose other tokenizer files the output gets.
    let tokenizerDirectory: String
    private(set) var warnings: [String] = []
    /// Model paths of the plan, for messages and `tokens:` sources.
    let paths: [String]

    /// `models`: the config's models in plan order; `base`: the base model's index (else 0);
    /// `location`: a model path's folder (for a tokenizer source that is not merged).
    init(_ settings: TokenizerSettings, paths: [String], models: [Checkpoint], base: Int,
         location: (String) throws -> String) throws {
        self.paths = paths
        self.base = base
        func configuredRows(_ checkpoint: Checkpoint) -> Int? {
            (checkpoint.config?["vocab_size"] ?? checkpoint.config?["text_config"]?.objectValue?["vocab_size"])?.int64Value.map(Int.init)
        }
        let baseVocabulary = try ModelVocabulary(directory: models[base].directory, rows: configuredRows(models[base]))
        var vocabularies: [Int: ModelVocabulary] = [base: baseVocabulary]
        var warnings: [String] = []
        for m in models.indices where m != base {
            do {
                vocabularies[m] = try ModelVocabulary(directory: models[m].directory, rows: configuredRows(models[m]))
            } catch {
                // mergekit: "Unable to load tokenizer ... Assuming same as base".
                warnings.append("tokenizer: \(error); \(paths[m]) is taken to have \(paths[base])'s tokens, as mergekit does")
                vocabularies[m] = try ModelVocabulary(directory: models[base].directory, rows: configuredRows(models[m]))
            }
        }
        self.vocabularies = vocabularies
        let order = [base] + models.indices.filter { $0 != base }

        var ids: [String: Int]
        var document: JSONObject?
        var directory = models[base].directory
        switch settings.source {
        case .base:
            ids = baseVocabulary.usedIDs
            document = baseVocabulary.strippedDocument()
        case .model(let path):
            let folder = try paths.firstIndex(of: path).map { models[$0].directory } ?? location(path)
            let vocabulary = try ModelVocabulary(directory: folder, rows: nil)
            ids = vocabulary.ids
            directory = folder
        case .union:
            ids = baseVocabulary.usedIDs
            var next = (ids.values.max() ?? -1) + 1
            var appended: [JSONValue] = []
            var addedEntries: [(content: String, entry: JSONObject)] = []
            var addedContents = Set<String>()
            for m in order {
                for token in vocabularies[m]!.added where token.id < vocabularies[m]!.rows && addedContents.insert(token.content).inserted {
                    addedEntries.append((token.content, token.entry))
                }
            }
            for m in order {
                for (token, _) in vocabularies[m]!.vocabularyTokens where ids[token] == nil && !addedContents.contains(token) {
                    ids[token] = next
                    appended.append(.object(JSONObject([
                        "id": .integer(next), "content": .string(token), "single_word": .bool(false), "lstrip": .bool(false),
                        "rstrip": .bool(false), "normalized": .bool(true), "special": .bool(false),
                    ])))
                    next += 1
                }
            }
            for (content, entry) in addedEntries where ids[content] == nil {
                ids[content] = next
                var entry = entry
                entry["id"] = .integer(next)
                appended.append(.object(entry))
                next += 1
            }
            document = baseVocabulary.strippedDocument()
            if !appended.isEmpty {
                var grown = document ?? baseVocabulary.document
                grown["added_tokens"] = .array((grown["added_tokens"]?.arrayValue ?? []) + appended)
                document = grown
            }
        }
        var tokens = [String?](repeating: nil, count: (ids.values.max() ?? -1) + 1)
        for (token, id) in ids { tokens[id] = token }
        self.tokens = tokens
        let multiple = settings.padToMultipleOf ?? 1
        rows = (tokens.count + multiple - 1) / multiple * multiple
        tokenizerDocument = document
        tokenizerDirectory = directory

        var rowOf: [Int: [Int]] = [:]
        for m in models.indices {
            let vocabulary = vocabularies[m]!
            rowOf[m] = tokens.map { token in token.flatMap { vocabulary.ids[$0] }.map { $0 < vocabulary.rows ? $0 : -1 } ?? -1 }
        }
        self.rowOf = rowOf
        var resolved: [Int: TokenizerSettings.Token] = [:]
        for setting in settings.tokens {
            guard let id = ids[setting.token] else {
                warnings.append("tokenizer.tokens.\(setting.token): not in the output vocabulary; ignored, as mergekit does")
                continue
            }
            resolved[id] = setting
        }
        self.settings = resolved
        self.warnings = warnings
    }

    /// The remap of one tensor whose inputs are `models` (plan indices, base first), each with
    /// `inputRows` rows; nil when every input already is the output vocabulary.
    func remap(models: [Int], inputRows: [Int]) throws -> VocabularyRemap? {
        var fill: [VocabularyRemap.FillRow] = []
        var forced = Set<Int>()
        func index(_ path: String, for token: Int) throws -> Int {
            guard let m = paths.firstIndex(of: path), models.contains(m) else {
                throw VocabularyError("tokenizer.tokens.\(tokens[token] ?? "#\(token)"): \(path) is not a model of the merge")
            }
            return m
        }
        for t in tokens.indices {
            let setting = settings[t]
            if setting?.force == true { forced.insert(t) }
            guard setting?.force == true || models.contains(where: { rowOf[$0]![t] < 0 }) else { continue }
            let name = tokens[t] ?? "#\(t)"
            var from: [[Int]]
            switch setting?.source {
            case .zero?:
                from = []
            case .model(let path)?:
                let m = try index(path, for: t)
                guard rowOf[m]![t] >= 0 else { throw VocabularyError("tokenizer.tokens.\(name): \(path) has no row for the token") }
                from = [[m, rowOf[m]![t]]]
            case .modelToken(let path, let id, let text)?:
                let m = try index(path, for: t)
                guard let row = id ?? text.flatMap({ vocabularies[m]!.ids[$0] }) else {
                    throw VocabularyError("tokenizer.tokens.\(name): \(path) has no token \"\(text ?? "")\"")
                }
                guard row >= 0, row < inputRows[models.firstIndex(of: m)!] else {
                    throw VocabularyError("tokenizer.tokens.\(name): row \(row) is past the \(inputRows[models.firstIndex(of: m)!]) rows of \(path)")
                }
                from = [[m, row]]
            case nil:
                let present = models.filter { rowOf[$0]![t] >= 0 }
                if present.count == 1 {
                    from = [[present[0], rowOf[present[0]]![t]]]
                } else if present.contains(base) {
                    from = [[base, rowOf[base]![t]]]
                } else {
                    from = present.map { [$0, rowOf[$0]![t]] }
                }
            }
            fill.append(.init(row: t, from: from))
        }
        let own = models.map { m in
            VocabularyRemap.OwnRows(model: m, spans: VocabularyRemap.spans(rowOf[m]!.enumerated().map { forced.contains($0.offset) ? -1 : $0.element }))
        }
        let identity = fill.isEmpty && rows == tokens.count && inputRows.allSatisfy { $0 == rows } && own.allSatisfy { $0.spans == [[0, 0, rows]] }
        return identity ? nil : VocabularyRemap(tokens: tokens.count, rows: rows, own: own, fill: fill)
    }

    /// Tokens no merged model has a row for: they get zeros (mergekit warns the same).
    var tokensWithoutRows: [String] {
        tokens.indices.filter { t in settings[t] == nil && rowOf.values.allSatisfy { $0[t] < 0 } }.map { tokens[$0] ?? "#\($0)" }
    }
}
