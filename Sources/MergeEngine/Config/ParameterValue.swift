/// A parameter value as written in a mergekit config, before it is resolved for one tensor.
///
/// Its JSON form is the config's, as a person (or mergekit) writes it: a number, boolean or
/// string as that JSON value; a gradient as an array of numbers (`[0, 0.5, 1]`); any other
/// list as an array of values; a filter list as an array of objects
/// `{"filter": "mlp", "value": 0.5}` (`filter` absent for the catch-all entry). Decoding
/// reads arrays as the config parser does: all numbers is a gradient, all objects a filter
/// list, anything else a list; an empty array is refused, as in a config.
public indirect enum ParameterValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case string(String)
    /// A numeric list: a gradient interpolated over the layers of a slice.
    case gradient([Double])
    /// A non-numeric list: entry `int(t·(n−1))` is taken.
    case list([ParameterValue])
    /// `[{filter: ..., value: ...}, ...]`: the first entry whose filter is absent, `"*"`, or a
    /// substring of the tensor name wins.
    case filtered([FilteredEntry])

    public struct FilteredEntry: Sendable, Equatable, Codable {
        public let filter: String?
        public let value: ParameterValue
        public init(filter: String?, value: ParameterValue) {
            self.filter = filter
            self.value = value
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let scalar = try? container.decode(ResolvedValue.self) {
            switch scalar {
            case .number(let x): self = .number(x)
            case .bool(let b): self = .bool(b)
            case .string(let s): self = .string(s)
            }
        } else if let numbers = try? container.decode([Double].self) {
            guard !numbers.isEmpty else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "a parameter list must not be empty") }
            self = .gradient(numbers)
        } else if let entries = try? container.decode([FilteredEntry].self) {
            guard !entries.isEmpty else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "a parameter list must not be empty") }
            self = .filtered(entries)
        } else if let values = try? container.decode([ParameterValue].self) {
            self = .list(values)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a parameter value must be a number, a boolean, a string, a list or a list of {filter, value}")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let x): try container.encode(x)
        case .bool(let b): try container.encode(b)
        case .string(let s): try container.encode(s)
        case .gradient(let values): try container.encode(values)
        case .list(let values): try container.encode(values)
        case .filtered(let entries): try container.encode(entries)
        }
    }

    /// The value for tensor `name` at relative depth `t` (0 at the slice's first layer,
    /// 1 at its last), or nil when no filter entry matches.
    public func resolve(tensor name: String, t: Double) -> ResolvedValue? {
        switch self {
        case .number(let x): return .number(x)
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .gradient(let values):
            guard !values.isEmpty else { return nil }
            if values.count == 1 { return .number(values[0]) }
            let s = t * Double(values.count - 1)
            let i0 = max(0, min(values.count - 1, Int(s.rounded(.down))))
            let i1 = min(values.count - 1, i0 + 1)
            let fraction = s - Double(i0)
            return .number(values[i0] * (1 - fraction) + values[i1] * fraction)
        case .list(let values):
            guard !values.isEmpty else { return nil }
            let index = max(0, min(values.count - 1, Int(t * Double(values.count - 1))))
            return values[index].resolve(tensor: name, t: t)
        case .filtered(let entries):
            for entry in entries {
                if let filter = entry.filter, filter != "*", !name.contains(filter) { continue }
                return entry.value.resolve(tensor: name, t: t)
            }
            return nil
        }
    }

    public var description: String {
        switch self {
        case .number(let x): return String(x)
        case .bool(let b): return String(b)
        case .string(let s): return "\"\(s)\""
        case .gradient(let v): return "[" + v.map { String($0) }.joined(separator: ", ") + "]"
        case .list(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .filtered(let entries):
            return "[" + entries.map { "{filter: \($0.filter ?? "*"), value: \($0.value)}" }.joined(separator: ", ") + "]"
        }
    }
}

/// A parameter's value for one tensor: what a merge method receives.
///
/// Its JSON form (in a `PlannedTensor`, the `work` of a merge TASK, docs/protocol.md §4.3) is
/// the plain JSON value: a number as a JSON number (`0.5`; finite, read back exactly: the
/// shortest decimal that round-trips the Double), a boolean as `true`/`false`, a string as a
/// JSON string.
public enum ResolvedValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case string(String)

    public var number: Double? { if case .number(let x) = self { return x } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let x = try? container.decode(Double.self) {
            self = .number(x)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a parameter value must be a JSON number, boolean or string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let x): try container.encode(x)
        case .bool(let b): try container.encode(b)
        case .string(let s): try container.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .number(let x): return String(x)
        case .bool(let b): return String(b)
        case .string(let s): return s
        }
    }
}

/// Named parameter values, in the order they were written.
public struct ParameterSet: Sendable, Equatable {
    public private(set) var entries: [(name: String, value: ParameterValue)] = []

    public init() {}

    public subscript(name: String) -> ParameterValue? {
        get { entries.first(where: { $0.name == name })?.value }
        set {
            entries.removeAll { $0.name == name }
            if let newValue { entries.append((name, newValue)) }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var names: [String] { entries.map(\.name) }

    public static func == (a: ParameterSet, b: ParameterSet) -> Bool {
        a.entries.map(\.name) == b.entries.map(\.name) && a.entries.map(\.value) == b.entries.map(\.value)
    }
}
