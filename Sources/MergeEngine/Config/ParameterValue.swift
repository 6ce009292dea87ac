/// A parameter value as written in a mergekit config, before it is resolved for one tensor.
public indirect enum ParameterValue: Sendable, Equatable, CustomStringConvertible {
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

    public struct FilteredEntry: Sendable, Equatable {
        public let filter: String?
        public let value: ParameterValue
        public init(filter: String?, value: ParameterValue) {
            self.filter = filter
            self.value = value
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
public enum ResolvedValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case string(String)

    public var number: Double? { if case .number(let x) = self { return x } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }

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
