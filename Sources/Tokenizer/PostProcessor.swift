import TensorIO

/// The special tokens put around an encoded text when special tokens are asked for: the
/// `post_processor` of tokenizer.json for a single sequence, or the BOS/EOS that
/// tokenizer_config.json's `add_bos_token`/`add_eos_token` ask for.
struct PostProcessor: Sendable, Equatable {
    var prefix: [Int32] = []
    var suffix: [Int32] = []

    init(prefix: [Int32] = [], suffix: [Int32] = []) {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// The processor a tokenizer.json declares (only its single-sequence form matters here).
    init(_ value: JSONValue?, file: String, context: String = "post_processor") throws {
        guard let value, value != .null else { return }
        let fields = try JSONFields(value, file: file, context: context)
        switch fields.type {
        case "ByteLevel":
            break  // offsets only
        case "TemplateProcessing":
            let specials = try JSONFields(fields["special_tokens"] ?? .object(JSONObject()), file: file, context: "\(context).special_tokens")
            var seenSequence = false
            for (n, item) in try fields.array("single").enumerated() {
                let piece = try JSONFields(item, file: file, context: "\(context).single[\(n)]")
                if piece["Sequence"] != nil {
                    guard !seenSequence else { throw piece.error("more than one sequence in a single-sequence template") }
                    seenSequence = true
                } else if let special = piece["SpecialToken"] {
                    let name = try JSONFields(special, file: file, context: piece.context).string("id")
                    let entry = try JSONFields(specials[name], file: file, context: "\(specials.context).\(name)")
                    let ids = try entry.array("ids").map { v -> Int32 in
                        guard let id = v.int64Value, let id32 = Int32(exactly: id) else { throw entry.error("ids holds a non-id") }
                        return id32
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw piece.error("neither Sequence nor SpecialToken")
                }
            }
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) throws -> Int32 {
                guard let pair = fields[key]?.arrayValue, pair.count == 2, let id = pair[1].int64Value, let id32 = Int32(exactly: id) else {
                    throw fields.error("\(key) is not a [token, id] pair")
                }
                return id32
            }
            prefix = [try id("cls")]
            suffix = [try id("sep")]
        case "Sequence":
            for (n, item) in try fields.array("processors").enumerated() {
                let inner = try PostProcessor(item, file: file, context: "\(context).processors[\(n)]")
                prefix = inner.prefix + prefix
                suffix += inner.suffix
            }
        default:
            throw fields.unsupported("post-processor")
        }
    }

    func apply(_ ids: [Int32]) -> [Int32] { prefix + ids + suffix }
}
