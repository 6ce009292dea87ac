import TensorIO

/// What tokenizer_config.json says about BOS and EOS: the tokens, and whether encoding with
/// special tokens adds them (`add_bos_token`, `add_eos_token`; nil where the file is silent).
struct TokenizerConfig: Sendable, Equatable {
    var bosToken: String?
    var eosToken: String?
    var addBOS: Bool?
    var addEOS: Bool?

    init() {}

    init(_ value: JSONValue, file: String) throws {
        let fields = try JSONFields(value, file: file, context: "tokenizer_config")
        bosToken = try Self.token(fields, "bos_token")
        eosToken = try Self.token(fields, "eos_token")
        if fields["add_bos_token"] != nil { addBOS = try fields.bool("add_bos_token", default: false) }
        if fields["add_eos_token"] != nil { addEOS = try fields.bool("add_eos_token", default: false) }
    }

    /// A token written as a string or as an AddedToken object (`{"content": ...}`).
    private static func token(_ fields: JSONFields, _ key: String) throws -> String? {
        guard let value = fields[key] else { return nil }
        if let s = value.stringValue { return s }
        return try JSONFields(value, file: fields.file, context: key).string("content")
    }
}
