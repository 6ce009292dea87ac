/// A JSON document as parsed by `JSONParser`: objects keep their key order and numbers keep
/// their exact source text, so a document can be re-serialised without drift and an integer
/// is never confused with a float.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text exactly as it appeared (or as it will be written).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A number value from an integer.
    public static func integer<I: BinaryInteger>(_ value: I) -> JSONValue { .number(String(value)) }

    /// A number value that reads back as exactly `value` (shortest round-trip text); null for
    /// nil, NaN or ±∞ (JSON has no such numbers).
    public static func double(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number("\(value)")
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// The value as a non-negative integer, if the text is a plain run of digits that fits.
    public var uint64Value: UInt64? {
        guard case .number(let text) = self, !text.isEmpty,
              text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// The value as an integer, accepting a leading minus sign; nil for fractions or exponents.
    public var int64Value: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }

    /// The value as a double, whatever its text form.
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }
}

/// A JSON object with its keys in document order. Keys are unique (the parser rejects duplicates).
public struct JSONObject: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        self.entries = pairs.map { Entry(key: $0.key, value: $0.value) }
    }

    public var keys: [String] { entries.map(\.key) }

    /// The value for `key`, or nil; setting nil removes the key, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            let index = entries.firstIndex(where: { $0.key == key })
            switch (index, newValue) {
            case (let i?, let v?): entries[i].value = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append(Entry(key: key, value: v))
            case (nil, nil): break
            }
        }
    }

    /// The value at a dotted path of nested objects (`text_config.num_hidden_layers`); setting
    /// a path whose parent object is missing does nothing.
    public subscript(path path: String) -> JSONValue? {
        get {
            guard let dot = path.firstIndex(of: ".") else { return self[path] }
            return self[String(path[..<dot])]?.objectValue?[path: String(path[path.index(after: dot)...])]
        }
        set {
            guard let dot = path.firstIndex(of: ".") else { self[path] = newValue; return }
            let key = String(path[..<dot])
            guard var inner = self[key]?.objectValue else { return }
            inner[path: String(path[path.index(after: dot)...])] = newValue
            self[key] = .object(inner)
        }
    }
}
