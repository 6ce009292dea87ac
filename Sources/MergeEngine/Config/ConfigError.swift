/// Everything wrong with a merge config or plan, reported together before any weight is read.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// One problem: where it is (a key path such as `models[1].parameters.weight`, or a tensor
    /// or file) and what is wrong.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public let location: String
        public let message: String
        public init(_ location: String, _ message: String) {
            self.location = location
            self.message = message
        }
        public var description: String { location.isEmpty ? message : "\(location): \(message)" }
    }

    public let source: String
    public let problems: [Problem]

    public init(source: String, problems: [Problem]) {
        self.source = source
        self.problems = problems
    }

    public var description: String {
        let header = problems.count == 1 ? "\(source): 1 problem" : "\(source): \(problems.count) problems"
        return header + "\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
