import TensorIO

/// A Hugging Face tokenizer read from `tokenizer.json` (as the `tokenizers` library writes it),
/// encoding text to the same token ids as `tokenizers`.
///
/// Supported: BPE models (merges by rank, `byte_fallback`, `unk_token`, `fuse_unk`,
/// `ignore_merges`); the ByteLevel, Split, Digits, Metaspace, WhitespaceSplit and Sequence
/// pre-tokenizers; the NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace, Strip and Sequence
/// normalizers; added tokens with their `single_word`/`lstrip`/`rstrip`/`normalized` flags; the
/// TemplateProcessing, ByteLevel, Roberta/Bert and Sequence post-processors; for `decode`, the
/// ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace and Sequence decoders. Anything else
/// is a `TokenizerError` naming the file and the type (for a decoder, thrown by `decode` only).
///
/// Special tokens (`encode(_:addSpecialTokens: true)`): when tokenizer_config.json states
/// `add_bos_token` or `add_eos_token`, BOS/EOS are added as it says (its `bos_token`/`eos_token`),
/// as transformers' Llama tokenizers do; otherwise tokenizer.json's post-processor decides.
public final class Tokenizer: Sendable {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let addedVocabulary: AddedVocabulary
    let postProcessor: PostProcessor
    /// The file's decoder, or why it cannot decode (an unsupported decoder does not stop encoding).
    let decoder: Result<Decoder?, TokenizerError>
    /// The BOS and EOS token ids, where tokenizer_config.json names tokens the vocabulary has.
    public let bosTokenID: Int32?
    public let eosTokenID: Int32?

    /// The tokenizer of a Hugging Face folder: its `tokenizer.json`, and its
    /// `tokenizer_config.json` when there is one.
    public convenience init(folder: String) throws {
        let config = FileSystem.join(folder, "tokenizer_config.json")
        try self.init(file: FileSystem.join(folder, "tokenizer.json"), config: FileSystem.exists(config) ? config : nil)
    }

    /// The tokenizer of a `tokenizer.json` file, with BOS/EOS settings from a
    /// `tokenizer_config.json` if given.
    public convenience init(file: String, config: String? = nil) throws {
        let root = try JSONFields.read(file)
        let configRoot = try config.map { try JSONFields.read($0) }
        try self.init(json: root, config: configRoot, file: file, configFile: config ?? "tokenizer_config.json")
    }

    /// The tokenizer of parsed tokenizer.json (and tokenizer_config.json) documents; `file` and
    /// `configFile` name them in errors.
    public init(json: JSONValue, config: JSONValue? = nil, file: String = "tokenizer.json",
                configFile: String = "tokenizer_config.json") throws {
        let root = try JSONFields(json, file: file, context: "tokenizer.json")
        model = try BPEModel(root["model"], file: file)
        normalizer = try root["normalizer"].map { try Normalizer($0, file: file, context: "normalizer") }
        preTokenizer = try root["pre_tokenizer"].map { try PreTokenizer($0, file: file, context: "pre_tokenizer") }
        addedVocabulary = try AddedVocabulary(root["added_tokens"], normalizer: normalizer, file: file)
        do {
            decoder = .success(try root["decoder"].map { try Decoder($0, file: file, context: "decoder") })
        } catch let error as TokenizerError {
            decoder = .failure(error)
        }
        let settings = try config.map { try TokenizerConfig($0, file: configFile) } ?? TokenizerConfig()

        let (added, model) = (addedVocabulary, model)
        bosTokenID = settings.bosToken.flatMap { Self.id(of: $0, added, model) }
        eosTokenID = settings.eosToken.flatMap { Self.id(of: $0, added, model) }
        if settings.addBOS != nil || settings.addEOS != nil {
            var processor = PostProcessor()
            if settings.addBOS == true {
                guard let bos = bosTokenID else {
                    throw TokenizerError(file: configFile, "add_bos_token is true but bos_token is missing or not in the vocabulary")
                }
                processor.prefix = [bos]
            }
            if settings.addEOS == true {
                guard let eos = eosTokenID else {
                    throw TokenizerError(file: configFile, "add_eos_token is true but eos_token is missing or not in the vocabulary")
                }
                processor.suffix = [eos]
            }
            postProcessor = processor
        } else {
            postProcessor = try PostProcessor(root["post_processor"], file: file)
        }
    }

    /// The token ids of `text`, with the special tokens of the post-processor (BOS, EOS) around
    /// them when `addSpecialTokens` (as `tokenizers`' `encode(text, add_special_tokens=...)`).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var ids: [Int32] = []
        for part in addedVocabulary.extractAndNormalize(text, normalizer: normalizer) {
            switch part {
            case .token(let id):
                ids.append(id)
            case .text(let piece):
                let words = preTokenizer?.preTokenize([piece]) ?? [piece]
                for word in words { ids += model.tokenize(word.text) }
            }
        }
        return addSpecialTokens ? postProcessor.apply(ids) : ids
    }

    /// The text of `ids` (as `tokenizers`' `decode`): special added tokens left out when
    /// `skipSpecialTokens`, ids without a token skipped, the rest through the file's decoder
    /// (tokens joined by spaces when it has none). Throws when the file's decoder is not supported.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) throws -> String {
        guard let decoder = try decoder.get() else { return tokens(ids, skipSpecialTokens).joined(separator: " ") }
        return decoder.decode(tokens(ids, skipSpecialTokens)).joined()
    }

    private func tokens(_ ids: [Int32], _ skipSpecialTokens: Bool) -> [String] {
        var tokens: [String] = []
        for id in ids {
            if let index = addedVocabulary.indexOfID[id] {
                let added = addedVocabulary.tokens[index]
                if !(skipSpecialTokens && added.special) { tokens.append(added.content) }
            } else if let token = model.tokens[id] {
                tokens.append(token)
            }
        }
        return tokens
    }

    /// The id of a token (an added token's content or a vocabulary entry), if it has one.
    public func id(of token: String) -> Int32? { Self.id(of: token, addedVocabulary, model) }

    private static func id(of token: String, _ added: AddedVocabulary, _ model: BPEModel) -> Int32? {
        added.tokens.first(where: { $0.content.utf8.elementsEqual(token.utf8) })?.id ?? model.vocab[Array(token.utf8)]
    }

    /// The ids put before and after a text when special tokens are added.
    public var specialPrefix: [Int32] { postProcessor.prefix }
    public var specialSuffix: [Int32] { postProcessor.suffix }
}
