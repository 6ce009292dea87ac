import TensorIO

/// A model's tokens as a vocabulary merge reads them: tokenizer.json's vocabulary (BPE,
/// WordPiece and WordLevel `vocab` objects, Unigram's list) and its added tokens, with the
/// number of embedding rows the model has (config.json's `vocab_size`).
struct ModelVocabulary {
    /// The tokenizer file, for messages and as the start of an output tokenizer.
    let file: String
    let document: JSONObject
    /// Every token with its id, added tokens included, whether or not the model has a row for it.
    let ids: [String: Int]
    /// Added tokens, in id order: id, content and the entry as written.
    let added: [(id: Int, content: String, entry: JSONObject)]
    /// Rows of the model's embedding: tokens at or past this id are unused.
    let rows: Int

    init(directory: String, rows configured: Int?) throws {
        file = FileSystem.join(directory, "tokenizer.json")
        guard FileSystem.exists(file) else {
            throw VocabularyError("\(directory) has no tokenizer.json (a tokenizer merge reads each model's tokenizer.json)")
        }
        let text: String
        do {
            text = try FileSystem.readText(file, limit: 1 << 30, what: "a tokenizer")
        } catch {
            throw VocabularyError("\(file): \(error)")
        }
        guard case .object(let document)? = try? JSONParser.parse(text) else { throw VocabularyError("\(file): not a JSON object") }
        self.document = document
        var ids: [String: Int] = [:]
        switch document["model"]?.objectValue?["vocab"] {
        case .object(let vocab)?:
            for entry in vocab.entries {
                guard let id = entry.value.int64Value, id >= 0 else { throw VocabularyError("\(file): the id of \"\(entry.key)\" is not a token id") }
                ids[entry.key] = Int(id)
            }
        case .array(let pieces)?:
            for (id, piece) in pieces.enumerated() {
                guard let token = piece.arrayValue?.first?.stringValue else { throw VocabularyError("\(file): vocab[\(id)] is not [piece, score]") }
                ids[token] = id
            }
        default:
            throw VocabularyError("\(file): model.vocab is missing")
        }
        var added: [(id: Int, content: String, entry: JSONObject)] = []
        for value in document["added_tokens"]?.arrayValue ?? [] {
            guard let entry = value.objectValue, let id = entry["id"]?.int64Value, id >= 0, let content = entry["content"]?.stringValue else {
                throw VocabularyError("\(file): an added token without an id and content")
            }
            added.append((Int(id), content, entry))
            ids[content] = Int(id)
        }
        self.added = added.sorted { $0.id < $1.id }
        self.ids = ids
        rows = configured ?? ids.count
    }

    /// The tokens the model has rows for (mergekit's stripped tokenizer), by id.
    var usedIDs: [String: Int] { ids.filter { $0.value < rows } }

    /// The tokens of the vocabulary proper (not added) the model has rows for, in id order.
    var vocabularyTokens: [(token: String, id: Int)] {
        let addedContents = Set(added.map(\.content))
        return ids.filter { $0.value < rows && !addedContents.contains($0.key) }.map { ($0.key, $0.value) }.sorted { $0.1 < $1.1 }
    }

    /// tokenizer.json without the tokens past the model's rows (vocabulary entries, added
    /// tokens and the BPE merges that use them), or nil when there are none.
    func strippedDocument() -> JSONObject? {
        let unused = Set(ids.filter { $0.value >= rows }.keys)
        guard !unused.isEmpty else { return nil }
        var document = self.document
        if var model = document["model"]?.objectValue {
            if case .object(let vocab)? = model["vocab"] {
                model["vocab"] = .object(JSONObject(vocab.entries.filter { !unused.contains($0.key) }))
            }
            if case .array(let merges)? = model["merges"] {
                model["merges"] = .array(merges.filter { merge in
                    let parts = merge.stringValue.map { $0.split(separator: " ").map(String.init) } ?? merge.arrayValue?.compactMap(\.stringValue) ?? []
                    return !parts.contains(where: unused.contains)
                })
            }
            document["model"] = .object(model)
        }
        document["added_tokens"] = .array(added.filter { $0.id < rows }.map { .object($0.entry) })
        return document
    }
}

/// A tokenizer file a vocabulary merge cannot use.
struct VocabularyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
