import TensorIO

/// Reading the fields of a tokenizer file's objects, each failure naming the file.
struct JSONFields {
    let object: JSONObject
    let file: String
    /// Where in the file the object is, for messages ("pre_tokenizer", "normalizer.normalizers[1]").
    let context: String

    /// The JSON document in the file at `path`.
    static func read(_ path: String) throws -> JSONValue {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw TokenizerError(file: path, "cannot be read: \(error)")
        }
        return try document(bytes, file: path)
    }

    /// The JSON document held in `bytes`; `file` names it in errors.
    static func document(_ bytes: [UInt8], file: String) throws -> JSONValue {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw TokenizerError(file: file, "is not UTF-8") }
        do {
            return try JSONParser.parse(text)
        } catch {
            throw TokenizerError(file: file, "not JSON: \(error)")
        }
    }

    init(_ value: JSONValue?, file: String, context: String) throws {
        guard let object = value?.objectValue else {
            throw TokenizerError(file: file, "\(context) is not an object")
        }
        self.object = object
        self.file = file
        self.context = context
    }

    subscript(key: String) -> JSONValue? {
        if case .null? = object[key] { return nil }
        return object[key]
    }

    var type: String? { self["type"]?.stringValue }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let field = self[key] else { return value }
        guard let b = field.boolValue else { throw error("\(key) is not true or false") }
        return b
    }

    func string(_ key: String) throws -> String {
        guard let s = self[key]?.stringValue else { throw error("\(key) is missing or not a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let field = self[key] else { return nil }
        guard let s = field.stringValue else { throw error("\(key) is not a string") }
        return s
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let a = self[key]?.arrayValue else { throw error("\(key) is missing or not an array") }
        return a
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(file: file, "\(context): \(message)")
    }

    /// The error for a `type` this implementation does not have.
    func unsupported(_ what: String) -> TokenizerError {
        TokenizerError(file: file, "\(context): unsupported \(what) type \"\(type ?? "(none)")\"")
    }
}
