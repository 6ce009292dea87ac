/// Everything wrong with what a job was asked to do (a merge config and its plan, a
/// sweep's options, an analysis's models), reported together before any weight is read:
/// the one error type for "here is the list of problems".
public struct ProblemList: Error, CustomStringConvertible, Sendable, Equatable {
    /// One problem: where it is (a key path such as `models[1].parameters.weight`, a tensor
    /// or a file; empty when the message says it) and what is wrong.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public let location: String
        public let message: String
        public init(_ location: String, _ message: String) {
            self.location = location
            self.message = message
        }
        public var description: String { location.isEmpty ? message : "\(location): \(message)" }
    }

    /// What the problems are about (a config file), when one thing is.
    public let source: String?
    public let problems: [Problem]

    public init(source: String? = nil, problems: [Problem]) {
        self.source = source
        self.problems = problems
    }

    /// Problems whose messages say where they are.
    public init(_ messages: [String]) { self.init(problems: messages.map { Problem("", $0) }) }

    public init(_ message: String) { self.init([message]) }

    public var description: String {
        let list = problems.map { "  - \($0)" }.joined(separator: "\n")
        if let source { return "\(source): \(problems.count == 1 ? "1 problem" : "\(problems.count) problems")\n" + list }
        return problems.count == 1 ? problems[0].description : "\(problems.count) problems:\n" + list
    }
}
