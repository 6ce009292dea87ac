/// Everything wrong with a sweep's options or models, reported together before any weight is read.
public struct SweepError: Error, CustomStringConvertible, Sendable {
    public let problems: [String]

    public init(_ problem: String) { problems = [problem] }
    public init(problems: [String]) { self.problems = problems }

    public var description: String {
        problems.count == 1 ? problems[0] : "\(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
